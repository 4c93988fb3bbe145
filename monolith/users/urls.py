from django.urls import path

from monolith.users.apis import UserMeApi, UserRegisterApi, UserTokenApi

urlpatterns = [
    path("", UserRegisterApi.as_view(), name="user-register"),
    path("token/", UserTokenApi.as_view(), name="user-token"),
    path("me/", UserMeApi.as_view(), name="user-me"),
]
