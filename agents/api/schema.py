"""drf-spectacular hooks: only the agent API is documented, and each tool's operation takes its request and
response schemas from the registry (the one declaration), not from serializers."""
from ..tools.registry import ERROR_ENVELOPE_SCHEMA, registry, result_envelope_schema

TOOL_PATH = "/api/agent/tools/{name}/"


def agent_paths_only(endpoints, **kwargs):
    return [e for e in endpoints if e[0].startswith("/api/agent/")]


def tools_postprocess(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    result["components"]["securitySchemes"] = {"AgentKey": {"type": "http", "scheme": "bearer",
                                                            "description": "An agent API key (al_…)."}}
    schemas["ToolError"] = ERROR_ENVELOPE_SCHEMA
    for path, item in result.get("paths", {}).items():
        if path.startswith("/api/agent/runs/"):
            for op in item.values():
                op["security"] = [{"AgentKey": []}]
    for tool in registry.all():
        path = result.get("paths", {}).get(TOOL_PATH.format(name=tool.name))
        if not path or "post" not in path:
            continue
        camel = tool.name.title().replace("_", "")
        schemas[f"{camel}Input"] = tool.input_schema
        schemas[f"{camel}Result"] = result_envelope_schema(tool.output_schema)
        op = path["post"]
        op["security"] = [{"AgentKey": []}]
        op["x-writes"], op["x-destructive"], op["x-money"] = tool.writes, tool.destructive, tool.money
        op["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": {"$ref": f"#/components/schemas/{camel}Input"}}}}
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ToolError"}}}}
        op["responses"] = {
            "200": {"description": "The tool's answer", "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/{camel}Result"}}}},
            **{status: {"description": why, **error} for status, why in (
                ("400", "invalid"), ("401", "unauthorized"), ("403", "forbidden"), ("404", "not_found"),
                ("409", "ambiguous, conflict or not_connected"),
                ("413", "invalid: the body is over AGENT_TOOL_MAX_BODY_BYTES"), ("429", "rate_limited"),
                ("503", "ghl_unavailable"))},
        }
        if tool.writes:
            op.setdefault("parameters", []).append({
                "name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                "description": "Same as the input's idempotency_key."})
    return result
