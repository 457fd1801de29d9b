"""The project's URLs plus one view that fails, to see the 500 answers (used with ``pytest.mark.urls``)."""
from django.urls import path

from config.urls import handler400, handler403, handler404, handler500  # noqa: F401
from config.urls import urlpatterns as project_urlpatterns


def _boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", _boom), path("api/boom/", _boom), *project_urlpatterns]
