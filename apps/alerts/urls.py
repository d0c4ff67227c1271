from django.urls import path

from apps.alerts import views

urlpatterns = [
    path("alerts/", views.alert_list, name="alerts"),
    path("alerts/channels/new", views.channel_new, name="alert_channel_new"),
    path("alerts/channels/<int:pk>/test", views.channel_test, name="alert_channel_test"),
    path(
        "alerts/channels/<int:pk>/secret",
        views.channel_renew_secret,
        name="alert_channel_secret",
    ),
    path("alerts/channels/<int:pk>/delete", views.channel_delete, name="alert_channel_delete"),
    path("alerts/rules/new", views.rule_new, name="alert_rule_new"),
    path("alerts/rules/<int:pk>/delete", views.rule_delete, name="alert_rule_delete"),
]
