from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/v1/", include("config.api_urls")),
    path("audit/", include("audit.urls")),
    path("me/", include("orgchart.urls")),
    path("reports/", include("approvals.reports_urls")),
    path("n/", include("approvals.notifications.urls")),
    path("", include("approvals.urls")),
]

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
