"""The employee's own pages, included at /me/."""

from django.urls import path
from django.views.generic import RedirectView

from orgchart import views

app_name = "orgchart"

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orgchart:out_of_office"), name="me"),
    path("out-of-office/", views.out_of_office, name="out_of_office"),
    path("out-of-office/<int:absence_id>/delete/", views.absence_delete, name="absence_delete"),
]
