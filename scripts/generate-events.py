#!/usr/bin/env python3
"""Regenerates events/: API Gateway HTTP API v2 requests for every route, edited from
`sam local generate-event apigateway http-api-proxy`, the scheduled event from
`sam local generate-event cloudwatch scheduled-event`, and the direct close payload.

Usage: scripts/generate-events.py [path/to/sam]   (default .tools/venv-sam/bin/sam; `make events`)
"""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAM = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, ".tools/venv-sam/bin/sam")
ENV = dict(os.environ, SAM_CLI_TELEMETRY="0")
ACCOUNT = "acct-events"
RID = "REPLENISHMENT_ID"  # the tests put a real order id here


def generate(*args):
    return json.loads(subprocess.run([SAM, "local", "generate-event", *args], check=True, capture_output=True, env=ENV).stdout)


# (file, method, route path, path parameters, query, body)
ROUTES = [
    ("settings/put-settings", "PUT", "/settings", {}, None, {"auto_backorder": True}),
    ("settings/get-settings", "GET", "/settings", {}, None, None),
    ("settings/put-vendor-settings", "PUT", "/vendors/{vendor_id}/settings", {"vendor_id": "acme"}, None, {"auto_backorder_default": True}),
    ("settings/get-vendor-settings", "GET", "/vendors/{vendor_id}/settings", {"vendor_id": "acme"}, None, None),
    ("settings/put-sku-settings", "PUT", "/skus/{sku}/settings", {"sku": "CHAIR-1"}, None, {"auto_backorder": "vendor_default", "vendor_id": "acme"}),
    ("settings/get-sku-settings", "GET", "/skus/{sku}/settings", {"sku": "CHAIR-1"}, None, None),
    ("inventory/put-inventory", "PUT", "/skus/{sku}/inventory", {"sku": "CHAIR-1"}, None, {"on_hand": 2}),
    ("inventory/post-adjustment", "POST", "/skus/{sku}/inventory/adjustments", {"sku": "CHAIR-1"}, None, {"delta": -1, "reason": "damaged"}),
    ("inventory/get-inventory", "GET", "/skus/{sku}/inventory", {"sku": "CHAIR-1"}, None, None),
    ("sale-finalize/post-finalize", "POST", "/sales/{sale_id}/finalize", {"sale_id": "S-1001"}, None,
     {"customer": "c-42", "channel": "web", "lines": [{"sku": "CHAIR-1", "quantity": 4}]}),
    ("sale-finalize/get-sale", "GET", "/sales/{sale_id}", {"sale_id": "S-1001"}, None, None),
    ("replenishments/list-replenishments", "GET", "/replenishments", {}, {"status": "open", "limit": "10"}, None),
    ("replenishments/get-replenishment", "GET", "/replenishments/{replenishment_id}", {"replenishment_id": RID}, None, None),
    ("replenishment-close/post-close", "POST", "/replenishments/{replenishment_id}/close", {"replenishment_id": RID}, None, None),
]


def http_event(method, route, params, query, body):
    e = generate("apigateway", "http-api-proxy")
    path = route
    for k, v in params.items():
        path = path.replace("{" + k + "}", v)
    e["routeKey"] = e["requestContext"]["routeKey"] = f"{method} {route}"
    e["rawPath"] = e["requestContext"]["http"]["path"] = path
    e["requestContext"]["http"]["method"] = method
    e["requestContext"]["authorizer"]["jwt"]["claims"] = {"account_id": ACCOUNT, "sub": "user-1"}
    e["headers"] = {"content-type": "application/json", "authorization": "Bearer <jwt>"}
    e.pop("cookies", None)
    e.pop("stageVariables", None)
    if params:
        e["pathParameters"] = params
    else:
        e.pop("pathParameters", None)
    if query:
        e["queryStringParameters"] = query
        e["rawQueryString"] = "&".join(f"{k}={v}" for k, v in query.items())
    else:
        e.pop("queryStringParameters", None)
        e["rawQueryString"] = ""
    if body is None:
        e.pop("body", None)
    else:
        e["body"] = json.dumps(body)
    e["isBase64Encoded"] = False
    return e


def write(name, event):
    path = os.path.join(ROOT, "events", name + ".json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(event, f, indent=2)
        f.write("\n")


for name, method, route, params, query, body in ROUTES:
    write(name, http_event(method, route, params, query, body))
write("replenishment-close/scheduled", generate("cloudwatch", "scheduled-event"))
write("replenishment-close/direct", {"account_id": ACCOUNT, "replenishment_id": RID})
print("wrote", len(ROUTES) + 2, "events")
