from django.urls import path

from accounts import views

urlpatterns = [
    path("terms/", views.terms, name="terms"),
    path("export/", views.data_export, name="data_export"),
    path("close/", views.account_close_view, name="account_close"),
    path("api-token/", views.api_token_view, name="api_token"),
]
