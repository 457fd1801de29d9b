from django.urls import path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from ..tools.registry import registry
from .runs import AgentRunDetailApi, AgentRunStartApi
from .views import ToolListApi, ToolManifestApi, UnknownToolApi, tool_run_view

app_name = "agent_api"

urlpatterns = [
    path("agent/runs/", AgentRunStartApi.as_view(), name="runs"),
    path("agent/runs/<int:run_id>/", AgentRunDetailApi.as_view(), name="run"),
    path("agent/tools/", ToolListApi.as_view(), name="tools"),
    path("agent/tools/manifest/", ToolManifestApi.as_view(), name="manifest"),
    *[path(f"agent/tools/{tool.name}/", tool_run_view(tool).as_view(), name=f"tool-{tool.name}")
      for tool in registry.all()],
    path("agent/tools/<str:name>/", UnknownToolApi.as_view(), name="tool-unknown"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="agent_api:schema"), name="docs"),
]
