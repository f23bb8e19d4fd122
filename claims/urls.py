from django.urls import path

from claims import views

urlpatterns = [
    path("", views.my_claims, name="my_claims"),
    path("claim/", views.claim_selected, name="claims_claim_selected"),
    path("release/", views.release_selected, name="claims_release_selected"),
]
