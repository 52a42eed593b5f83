"""Org chart routes under /api/v1/: people/, roles/, out-of-office/."""

from rest_framework.routers import SimpleRouter

from .views import OutOfOfficeViewSet, PersonViewSet, RoleViewSet

router = SimpleRouter()
router.register("people", PersonViewSet, basename="person")
router.register("roles", RoleViewSet, basename="role")
router.register("out-of-office", OutOfOfficeViewSet, basename="out-of-office")

urlpatterns = router.urls
