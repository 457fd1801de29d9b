from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.templatetags.static import static
from django.urls import include, path
from django.views.generic import RedirectView

from tenancy import views as tenancy_views

urlpatterns = [
    path("", tenancy_views.home, name="home"),
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("ghl_integration.urls")),
    path("", include("crm.urls")),
    path("", include("channels_app.urls")),
    path("webhooks/", include("ghl_integration.webhooks.urls")),
    path("api/", include("agents.api.urls")),
    path("", include("agents.urls")),
]

handler400 = "tenancy.error_pages.bad_request"
handler403 = "tenancy.error_pages.permission_denied"
handler404 = "tenancy.error_pages.page_not_found"
handler500 = "tenancy.error_pages.server_error"
