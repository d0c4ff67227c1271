from django.contrib.auth import views as auth_views
from django.urls import path

from apps.accounts import views

urlpatterns = [
    path("login", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout", auth_views.LogoutView.as_view(), name="logout"),
    path("organisation", views.switch_organisation, name="switch_organisation"),
    path("settings/", views.organisation_settings, name="organisation_settings"),
]
