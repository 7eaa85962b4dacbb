#!/usr/bin/env python3
"""Regenerates events/: API Gateway HTTP API v2 requests for every route, edited from
`sam local generate-event apigateway http-api-proxy`, the scheduled event from
`sam local generate-event cloudwatch scheduled-event`, the direct close payload, and DynamoDB stream
batches of order items and of a contribution for order-events and of a sale claim for
sale-finalize, edited from
`sam local generate-event dynamodb update`.

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
    ("settings/put-vendor-settings", "PUT", "/vendors/{vendor_id}/settings", {"vendor_id": "acme"}, None, {"auto_backorder_default": True, "lead_time_days": 14}),
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
    ("sale-finalize/post-cancel", "POST", "/sales/{sale_id}/cancel", {"sale_id": "S-1001"}, None, None),
    ("replenishments/post-replenishment", "POST", "/replenishments", {}, None,
     {"sku": "CHAIR-1", "quantity": 6, "request_id": "po-2026-11-29-1"}),
    ("replenishments/list-sales", "GET", "/replenishments/{replenishment_id}/sales", {"replenishment_id": RID}, {"limit": "10"}, None),
    ("replenishments/post-receipt", "POST", "/replenishments/{replenishment_id}/receipts", {"replenishment_id": RID}, None,
     {"receipt_id": "dock-7", "quantity": 3}),
    ("replenishments/list-awaiting", "GET", "/skus/{sku}/awaiting", {"sku": "CHAIR-1"}, {"limit": "10"}, None),
    ("replenishments/list-vendor-replenishments", "GET", "/vendors/{vendor_id}/replenishments", {"vendor_id": "acme"}, {"status": "open"}, None),
    ("channels/put-shop", "PUT", "/channels/shopify/shops/{shop_domain}", {"shop_domain": "devkanvas.myshopify.com"}, None,
     {"webhook_secret": "example-webhook-secret", "ignore_test_orders": False}),
    ("channels/get-shop", "GET", "/channels/shopify/shops/{shop_domain}", {"shop_domain": "devkanvas.myshopify.com"}, None, None),
    ("channels/delete-shop", "DELETE", "/channels/shopify/shops/{shop_domain}", {"shop_domain": "devkanvas.myshopify.com"}, None, None),
]
# The webhook events (events/channels/post-webhook*.json: the body of events/shopify/orders-create.json
# signed with the secret of put-shop, no JWT) are written by hand; see events/shopify/README.md.


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


# order-events: stream records of order items (the table streams NEW_AND_OLD_IMAGES), each file a
# batch of one record; batch.json holds them all, in stream order, with records that publish nothing.
STREAM_RID = "01JDQ7Z8X9K2M3N4P5Q6R7S8T9"
STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/backorder-Table-EXAMPLE/stream/2026-11-29T00:00:00.000"


def attr(v):
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, int):
        return {"N": str(v)}
    if isinstance(v, list):
        return {"L": [attr(x) for x in v]}
    return {"S": v}


def partition(root):
    """The item's partition key: the account's byte length, the account, the aggregate's root sk."""
    return f"{len(ACCOUNT.encode())}:{ACCOUNT}#{root}"


def open_shard(rid):
    """The open_by_age shard of an order: FNV-1a 64 of its id, modulo 16."""
    h = 0xCBF29CE484222325
    for b in rid.encode():
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return f"OPEN#{h % 16:02d}"


def order_image(status, quantity=3, received=None, receipt_status=None, updated_at="2026-11-29T10:00:00.000Z"):
    item = {
        "pk": partition("ORDER#" + STREAM_RID), "sk": "ORDER#" + STREAM_RID, "rid": STREAM_RID, "sku": "CHAIR-1", "vendor_id": "acme",
        "quantity": quantity, "status": status, "tags": ["auto_backorder"],
        "created_at": "2026-11-29T10:00:00.000Z", "updated_at": updated_at,
        "gsi1pk": f"{status}#{ACCOUNT}", "gsi2pk": f"{len(ACCOUNT)}:{ACCOUNT}#CHAIR-1",
    }
    if status == "open":
        item.update(open_pk=open_shard(STREAM_RID), open_sk="2026-11-29T10:00:00.000Z#" + STREAM_RID)
    else:
        item["closed_at"] = "2026-11-29T12:00:00.000Z"
        # The close orders whole packs (here of 1: what the sales owe).
        item["ordered_quantity"] = quantity
    if received is not None:
        item["received"] = received
    if receipt_status is not None:
        item["receipt_status"] = receipt_status
    return {k: attr(v) for k, v in item.items()}


def stream_record(template, event_id, seq, name, keys, old=None, new=None):
    r = json.loads(json.dumps(template))
    r["eventID"] = event_id
    r["eventName"] = name
    r["eventSourceARN"] = STREAM_ARN
    d = r["dynamodb"]
    d["Keys"] = {k: attr(v) for k, v in keys.items()}
    d.pop("NewImage", None)
    d.pop("OldImage", None)
    if new is not None:
        d["NewImage"] = new
    if old is not None:
        d["OldImage"] = old
    d["ApproximateCreationDateTime"] = 1796032800
    d["SequenceNumber"] = seq
    d["SizeBytes"] = len(json.dumps(keys)) + len(json.dumps(new or {})) + len(json.dumps(old or {}))
    d["StreamViewType"] = "NEW_AND_OLD_IMAGES"
    return r


def order_events():
    base = generate("dynamodb", "update")["Records"]
    insert, modify, remove = (next(r for r in base if r["eventName"] == n) for n in ("INSERT", "MODIFY", "REMOVE"))
    order_keys = {"pk": partition("ORDER#" + STREAM_RID), "sk": "ORDER#" + STREAM_RID}
    open_order = order_image("open")
    bigger = order_image("open", quantity=5, updated_at="2026-11-29T11:00:00.000Z")
    closed = order_image("closed", quantity=5, updated_at="2026-11-29T12:00:00.000Z")
    partial = order_image("closed", quantity=5, received=2, receipt_status="partially_received", updated_at="2026-11-29T13:00:00.000Z")
    received = order_image("closed", quantity=5, received=5, receipt_status="received", updated_at="2026-11-29T14:00:00.000Z")
    sku_keys = {"pk": partition("SKU#CHAIR-1"), "sk": "SKU#CHAIR-1"}
    sku = {k: attr(v) for k, v in {"pk": partition("SKU#CHAIR-1"), "sk": "SKU#CHAIR-1", "on_hand": -3, "ver": 2, "policy": "backorder"}.items()}
    seq = lambda n: f"44215845000000000174504{n:05d}"
    records = {
        "insert-open": stream_record(insert, "e0000000000000000000000000000001", seq(1), "INSERT", order_keys, new=open_order),
        "modify-quantity": stream_record(modify, "e0000000000000000000000000000002", seq(2), "MODIFY", order_keys, old=open_order, new=bigger),
        "modify-closed": stream_record(modify, "e0000000000000000000000000000003", seq(3), "MODIFY", order_keys, old=bigger, new=closed),
        "modify-partially-received": stream_record(modify, "e0000000000000000000000000000004", seq(4), "MODIFY", order_keys, old=closed, new=partial),
        "modify-received": stream_record(modify, "e0000000000000000000000000000005", seq(5), "MODIFY", order_keys, old=partial, new=received),
        "non-order": stream_record(insert, "e0000000000000000000000000000006", seq(6), "INSERT", sku_keys, new=sku),
        "remove": stream_record(remove, "e0000000000000000000000000000007", seq(7), "REMOVE", order_keys, old=received),
    }
    for name in ("insert-open", "modify-closed", "modify-received", "non-order"):
        write("order-events/" + name, {"Records": [records[name]]})
    write("order-events/batch", {"Records": list(records.values())})
    # A contribution (S-1001's 3 units in the order the tests put at RID) reaching all its units
    # released: the sale may be ready (FulfillmentReady).
    contrib_keys = {"pk": partition("ORDER#" + RID), "sk": f"CONTRIB#{RID}#S-1001"}
    waiting = {
        **contrib_keys, "sale_id": "S-1001", "units": 3, "pos": 4, "created_at": "2026-11-29T10:00:00.000Z",
        "await_pk": f"{len(ACCOUNT)}:{ACCOUNT}#CHAIR-1", "await_pos": 4,
    }
    released = {k: v for k, v in waiting.items() if not k.startswith("await_")}
    released.update(released=3, released_at="2026-11-29T14:00:00.000Z")
    write("order-events/contribution-released", {"Records": [stream_record(
        modify, "e0000000000000000000000000000008", seq(8), "MODIFY", contrib_keys,
        old={k: attr(v) for k, v in waiting.items()}, new={k: attr(v) for k, v in released.items()},
    )]})
    return 6


def sale_claims():
    """The completion path: the stream record of a sale claimed (S-1001, the sale of
    post-finalize.json), as the SaleClaims filter passes it to sale-finalize."""
    insert = next(r for r in generate("dynamodb", "update")["Records"] if r["eventName"] == "INSERT")
    keys = {"pk": partition("SALE#S-1001"), "sk": "SALE#S-1001"}
    claim = {k: attr(v) for k, v in {
        **keys, "fingerprint": "0" * 64, "status": "finalizing", "parts": 1, "done": 0,
        "request": json.dumps([{"sku": "CHAIR-1", "quantity": 4}]), "fulfillment_id": "01KB0000000000000000000000",
        "customer": "c-42", "channel": "web", "lease": "01KB0000000000000000000001", "lease_until": 1796032810000,
        "created_at": "2026-11-29T10:00:00.000Z",
    }.items()}
    record = stream_record(insert, "e0000000000000000000000000000101", "44215845000000000174504000101", "INSERT", keys, new=claim)
    write("sale-finalize/stream-claim", {"Records": [record]})


def sqs_batch():
    """Sales from the queue: two good messages around one that can never succeed."""
    base = generate("sqs", "receive-message")["Records"][0]
    bodies = [
        {"sale_id": "Q-1", "customer": "c-7", "channel": "marketplace", "lines": [{"sku": "CHAIR-1", "quantity": 2}]},
        {"sale_id": "Q-2", "lines": [{"sku": "CHAIR-1", "quantity": 0}]},
        {"sale_id": "Q-3", "channel": "marketplace", "lines": [{"sku": "CHAIR-1", "quantity": 1}]},
    ]
    records = []
    for i, body in enumerate(bodies, 1):
        r = json.loads(json.dumps(base))
        r["messageId"] = f"00000000-0000-4000-8000-00000000000{i}"
        r["body"] = json.dumps(body)
        r["messageAttributes"] = {"account_id": {"stringValue": ACCOUNT, "stringListValues": [], "binaryListValues": [], "dataType": "String"}}
        r.pop("md5OfMessageAttributes", None)
        r.pop("md5OfBody", None)
        records.append(r)
    write("sale-finalize/sqs-batch", {"Records": records})


sqs_batch()
sale_claims()
for name, method, route, params, query, body in ROUTES:
    write(name, http_event(method, route, params, query, body))
write("replenishment-close/scheduled", generate("cloudwatch", "scheduled-event"))
write("replenishment-close/direct", {"account_id": ACCOUNT, "replenishment_id": RID})
print("wrote", len(ROUTES) + 4 + order_events(), "events")
