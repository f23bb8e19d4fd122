"""API routes of this app, mounted under /api/v3/."""

from django.urls import path

from leads import api

urlpatterns = [
    path("leads/subscriptions", api.LeadSubscriptionListApi.as_view(), name="api-lead-subscriptions"),
    path("leads/deliveries", api.LeadDeliveryListApi.as_view(), name="api-lead-deliveries"),
]
