from django.urls import path

from apps.feeds import views

urlpatterns = [
    path("feeds/", views.feed_list, name="feeds"),
    path("feeds/new", views.feed_new, name="feed_new"),
    path("feeds/<int:pk>/", views.feed_detail, name="feed"),
    path("feeds/<int:pk>/pause", views.feed_pause, name="feed_pause"),
    path("feeds/<int:pk>/resume", views.feed_resume, name="feed_resume"),
    path("feeds/<int:pk>/troubleshoot", views.feed_troubleshoot, name="feed_troubleshoot"),
    path("feeds/<int:pk>/connect", views.feed_connect, name="feed_connect"),
    path("feeds/<int:pk>/batching", views.feed_batching, name="feed_batching"),
    path("feeds/<int:pk>/batches/<uuid:batch_id>/replay", views.batch_replay, name="feed_replay"),
]
