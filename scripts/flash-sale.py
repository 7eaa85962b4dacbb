#!/usr/bin/env python3
"""A flash sale against a running `make dev` server, as a new user would try it.

Usage: `make dev` in one terminal, then `python3 scripts/flash-sale.py` (BASE defaults to
http://127.0.0.1:3000; BUYERS to 64). Standard library only.

Two rounds, each under a fresh account so they can be rerun:
1. BUYERS concurrent buyers, 4 sales each, of one back-ordered SKU.
2. The same buyers with baskets of that SKU and 0-2 of ten others, while an operator closes the hot
   SKU's open order every 50 ms.

Nobody retries: every sale must be answered 200 the first time. Then every unit is checked to be in
exactly one order: per order, the units the answers put in it equal its quantity, and per SKU the
stock fell by exactly what was sold. Exits 1 on any other answer or any mismatch.
"""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

BASE = os.environ.get("BASE", "http://127.0.0.1:3000")
BUYERS = int(os.environ.get("BUYERS", "64"))
SALES_PER_BUYER = 4
START = -10


def call(account, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(BASE + path, data=data, method=method)
    req.add_header("x-account-id", account)
    req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def ok(account, method, path, body=None):
    status, answer = call(account, method, path, body)
    if status not in (200, 201):
        sys.exit(f"{method} {path}: {status} {answer}")
    return answer


def all_orders(account, sku):
    orders, cursor = [], ""
    while True:
        page = ok(account, "GET", f"/replenishments?sku={sku}&limit=100{cursor}")
        orders += page["items"]
        if not page.get("next_cursor"):
            return orders
        cursor = f"&cursor={page['next_cursor']}"


def round_(name, baskets):
    account = f"flash-{name}-{uuid.uuid4().hex[:8]}"
    others = [f"OTHER-{i}" for i in range(10)]
    skus = ["HOT"] + (others if baskets else [])
    ok(account, "PUT", "/settings", {"auto_backorder": True})
    for sku in skus:
        ok(account, "PUT", f"/skus/{sku}/settings", {"auto_backorder": "backorder"})
        ok(account, "PUT", f"/skus/{sku}/inventory", {"on_hand": START})

    answers, statuses, lock = [], {}, threading.Lock()
    stop = threading.Event()
    closes = [0]

    def closer():
        while not stop.is_set():
            rid = ok(account, "GET", "/skus/HOT/inventory").get("open_replenishment_id")
            if rid:
                status, _ = call(account, "POST", f"/replenishments/{rid}/close")
                if status == 200:
                    closes[0] += 1
            time.sleep(0.05)

    def buyer(b):
        for i in range(SALES_PER_BUYER):
            n = b * SALES_PER_BUYER + i
            lines = [{"sku": "HOT", "quantity": 1 + n % 3}]
            if baskets:
                lines += [{"sku": others[(n * 7 + j * 3) % 10], "quantity": 1} for j in range(n % 3)]
            status, answer = call(account, "POST", f"/sales/s-{n}/finalize", {"lines": lines})
            with lock:
                statuses[status] = statuses.get(status, 0) + 1
                if status == 200:
                    answers.append(answer)

    threads = [threading.Thread(target=buyer, args=(b,)) for b in range(BUYERS)]
    closing = threading.Thread(target=closer) if baskets else None
    started = time.monotonic()
    if closing:
        closing.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - started
    stop.set()
    if closing:
        closing.join()

    problems = []
    sales = BUYERS * SALES_PER_BUYER
    if statuses != {200: sales}:
        problems.append(f"answers by status {statuses}, expected {sales} x 200")
    sold, by_order = {}, {}
    for a in answers:
        for line in a["lines"]:
            sold[line["sku"]] = sold.get(line["sku"], 0) + line["quantity"]
            if line["replenishment_id"]:
                by_order[line["replenishment_id"]] = by_order.get(line["replenishment_id"], 0) + line["backordered"]
    orders = {}
    for sku in skus:
        level = ok(account, "GET", f"/skus/{sku}/inventory")["on_hand"]
        if level != START - sold.get(sku, 0):
            problems.append(f"{sku}: on_hand {level}, expected {START - sold.get(sku, 0)}")
        for o in all_orders(account, sku):
            orders[o["replenishment_id"]] = o["quantity"]
    if orders != by_order:
        problems.append(f"orders {orders} != units the answers put in them {by_order}")
    print(
        f"{name}: {sales} sales from {BUYERS} buyers in {took:.1f} s ({sales / took:.0f} sales/s), "
        f"answers {statuses}, {len(orders)} orders, {closes[0]} closes, "
        f"units in orders {sum(orders.values())} = back-ordered {sum(by_order.values())}: "
        + ("OK" if not problems else "FAILED")
    )
    return problems


def main():
    problems = round_("one-sku", baskets=False) + round_("baskets-with-closes", baskets=True)
    for p in problems:
        print("  " + p)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
