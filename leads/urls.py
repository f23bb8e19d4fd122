from django.urls import path

from leads import views

urlpatterns = [
    path("", views.subscriptions, name="leads_subscriptions"),
    path("pay/", views.subscriptions_pay, name="leads_subscriptions_pay"),
    path("<int:subscription_id>/withdraw/", views.subscription_withdraw, name="leads_subscription_withdraw"),
    path("portal/", views.subscriptions_portal, name="leads_subscriptions_portal"),
    path("received/", views.received, name="leads_received"),
    path("download/<str:token>/", views.download, name="leads_download"),
]
