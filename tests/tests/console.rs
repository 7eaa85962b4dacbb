//! The console in a real browser: headless Chromium through chromedriver (Debian's `chromium` and
//! `chromium-driver`, installed by `scripts/browser.sh install`, which `make test` runs), against
//! the local server on DynamoDB Local. It walks the merchant's test sale by clicking, finding
//! every control by its label or its role and name (never a CSS class), checks an error shown
//! with its field and the form keeping its input, and takes a screenshot of each screen into
//! `target/console-screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use backorder_tests::TestApp;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ORDERS: &str = "Replenishment orders, newest first";
const WAIT: Duration = Duration::from_secs(15);

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn shots_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A quoted XPath string literal.
fn lit(s: &str) -> String {
    if s.contains('\'') {
        format!("\"{s}\"")
    } else {
        format!("'{s}'")
    }
}

struct Page {
    client: Client,
    shots: PathBuf,
}

impl Page {
    /// The displayed elements an XPath finds, waiting until there is one.
    async fn visible(&self, xpath: &str, what: &str) -> Element {
        let start = Instant::now();
        loop {
            if let Ok(found) = self.client.find_all(Locator::XPath(xpath)).await {
                for e in found {
                    if e.is_displayed().await.unwrap_or(false) {
                        return e;
                    }
                }
            }
            assert!(start.elapsed() < WAIT, "no visible {what} ({xpath})");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The control a `<label>` names (by `for`), or whose `aria-label` is `label`.
    async fn labelled(&self, label: &str) -> Element {
        let l = lit(label);
        let xpath = format!(
            "//*[@id=//label[normalize-space()={l}]/@for] | //*[(self::input or self::select or self::button) and @aria-label={l}]"
        );
        self.visible(&xpath, &format!("control labelled {label:?}"))
            .await
    }

    /// A button by its accessible name (its text or `aria-label`).
    async fn button(&self, name: &str) -> Element {
        let n = lit(name);
        let xpath = format!("//button[normalize-space()={n} or @aria-label={n}]");
        self.visible(&xpath, &format!("button {name:?}")).await
    }

    async fn click(&self, name: &str) {
        self.button(name).await.click().await.unwrap();
    }

    async fn fill(&self, label: &str, value: &str) {
        let input = self.labelled(label).await;
        input.clear().await.unwrap();
        input.send_keys(value).await.unwrap();
    }

    async fn choose(&self, label: &str, option: &str) {
        self.labelled(label)
            .await
            .select_by_label(option)
            .await
            .unwrap();
    }

    /// The text of the element with a role (`alert`, `status`).
    async fn role_text(&self, role: &str) -> String {
        let e = self
            .client
            .find(Locator::XPath(&format!("//*[@role={}]", lit(role))))
            .await
            .unwrap();
        e.text().await.unwrap_or_default()
    }

    /// Waits until the element with `role` says `needle`, and returns what it says. Fails early
    /// when the alert shows an error meanwhile.
    async fn until_role_says(&self, role: &str, needle: &str) -> String {
        let start = Instant::now();
        loop {
            let said = self.role_text(role).await;
            if said.contains(needle) {
                return said;
            }
            if role != "alert" {
                let alert = self.role_text("alert").await;
                assert!(
                    alert.is_empty(),
                    "waiting for {needle:?}, the page says: {alert}"
                );
            }
            assert!(
                start.elapsed() < WAIT,
                "the {role} never said {needle:?}; it says {said:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The rows of the visible table with this caption, as cell texts (read at once, in the
    /// page, so a table redrawn meanwhile is read whole).
    async fn table(&self, caption: &str) -> Vec<Vec<String>> {
        self.visible(
            &format!("//table[caption[normalize-space()={}]]", lit(caption)),
            &format!("table {caption:?}"),
        )
        .await;
        let rows = self
            .client
            .execute(
                "const t = [...document.querySelectorAll('table')].find((t) => \
                   t.caption && t.caption.textContent.trim() === arguments[0] && t.offsetParent);\
                 return t ? [...t.tBodies[0].rows].map((r) => [...r.cells].map((c) => c.innerText.trim())) : [];",
                vec![json!(caption)],
            )
            .await
            .unwrap();
        serde_json::from_value(rows).unwrap()
    }

    async fn screen(&self, name: &str) {
        self.click(name).await;
        self.visible(
            &format!(
                "//section[not(@hidden)]/h2[starts-with(normalize-space(), {})]",
                lit(name)
            ),
            &format!("screen {name}"),
        )
        .await;
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Finalizes a sale of `lines` on the New sale screen; returns the sale id and what the answer
    /// says of the fulfillment.
    async fn sale(&self, customer: &str, lines: &[(&str, &str)]) -> (String, String) {
        self.screen("New sale").await;
        let sale_id = self
            .labelled("Sale number")
            .await
            .prop("value")
            .await
            .unwrap()
            .unwrap();
        self.fill("Customer", customer).await;
        for (i, (sku, quantity)) in lines.iter().enumerate() {
            if i > 0 {
                self.click("Add line").await;
            }
            self.fill(&format!("SKU, line {}", i + 1), sku).await;
            self.fill(&format!("Quantity, line {}", i + 1), quantity)
                .await;
        }
        self.click("Finalize").await;
        self.until_role_says("status", &format!("Sale {sale_id} finalized"))
            .await;
        let fulfillment = self
            .visible("//*[@id='sale-fulfillment']", "the fulfillment")
            .await
            .text()
            .await
            .unwrap();
        (sale_id, fulfillment)
    }
}

/// The order id a sale's answer says its units were back-ordered into.
fn order_of(fulfillment: &str) -> String {
    fulfillment
        .split("into order ")
        .nth(1)
        .unwrap_or_else(|| panic!("no order in {fulfillment:?}"))
        .trim_end_matches('.')
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

async fn browser(driver_port: u16) -> Client {
    let profile = std::env::temp_dir().join(format!("console-test-{}", ulid::Ulid::new()));
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": CHROMIUM,
            "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-default-apps", "--disable-extensions", "--no-first-run",
                "--window-size=1280,1200", "--lang=en-US",
                format!("--user-data-dir={}", profile.display()),
            ]
        }),
    );
    let start = Instant::now();
    loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        match ClientBuilder::new(connector)
            .capabilities(caps.clone())
            .connect(&format!("http://127.0.0.1:{driver_port}"))
            .await
        {
            Ok(client) => return client,
            Err(e) => {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "no browser session: {e}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_merchants_test_sale_by_clicking() {
    assert!(
        std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
        "chromium and chromedriver are missing: run scripts/browser.sh install"
    );
    let app = TestApp::new().await;
    let (addr, server) =
        backorder_local::server::start(app.store.clone(), "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
    let driver_port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    let client = browser(driver_port).await;
    let page = Page {
        client,
        shots: shots_dir(),
    };
    let started = Instant::now();
    let result = walk(&page, &format!("http://{addr}")).await;
    let _ = page.client.clone().close().await;
    server.abort();
    result.unwrap();
    eprintln!("the walk took {:?}", started.elapsed());
}

async fn walk(page: &Page, base: &str) -> Result<(), String> {
    page.client
        .goto(&format!("{base}/console"))
        .await
        .map_err(|e| e.to_string())?;
    // Locally the account is chosen in the page.
    page.fill("Account (X-Account-Id)", "console-shop").await;
    page.click("Use account").await;
    page.until_role_says("status", "Acting as account console-shop")
        .await;

    // Setup: the account's toggle.
    let toggle = page
        .labelled("Automatically back order items when out of stock")
        .await;
    assert_eq!(
        toggle.prop("checked").await.unwrap().as_deref(),
        Some("false")
    );
    toggle.click().await.unwrap();
    page.until_role_says("status", "Automatic back-ordering is on")
        .await;
    page.fill("Vendor", "acme").await;
    page.fill("Lead time (days)", "14").await;
    page.click("Save vendor").await;
    page.until_role_says("status", "Vendor acme saved").await;
    page.shot("setup").await;

    // The SKU: Backorder, from acme, stock counted to 0.
    page.screen("SKU").await;
    page.fill("SKU", "CHAIR-1").await;
    page.click("Open SKU").await;
    page.until_role_says("status", "not known yet").await;
    page.choose("Automatically Backorder", "Backorder").await;
    page.fill("Vendor", "acme").await;
    page.click("Save SKU settings").await;
    page.until_role_says("status", "Automatically Backorder is Backorder")
        .await;
    page.fill("Counted on hand", "0").await;
    page.click("Count stock").await;
    page.until_role_says("status", "CHAIR-1 counted: 0 on hand")
        .await;

    // A sale of 2: a fulfillment is raised and 2 units go into a new auto-back-order order.
    let (first, said) = page.sale("walk-in", &[("CHAIR-1", "2")]).await;
    assert!(said.contains("fulfillment"), "{said}");
    assert!(
        said.contains("Back-ordered: 2 of CHAIR-1 into order"),
        "{said}"
    );
    let order = order_of(&said);
    page.shot("new-sale").await;

    // The order appears with its tag.
    page.screen("Replenishments").await;
    page.choose("Show", "Auto back-order").await;
    page.click("Filter").await;
    let rows = until_rows(page, ORDERS, |r| r.len() == 1).await;
    assert_eq!(rows[0][0], order);
    assert_eq!(rows[0][1], "CHAIR-1");
    assert!(rows[0][2].contains("open"), "{:?}", rows[0]);
    assert_eq!(rows[0][3], "auto_backorder");
    assert_eq!(rows[0][4], "acme");
    assert_eq!(rows[0][5], "2");

    // A second sale of 3 adds to the same order.
    let (second, said) = page.sale("regular", &[("CHAIR-1", "3")]).await;
    assert_eq!(order_of(&said), order, "{said}");
    page.screen("Replenishments").await;
    page.click("Filter").await;
    until_rows(page, ORDERS, |r| r.len() == 1 && r[0][5] == "5").await;

    // Close it, then receive 1 unit: the oldest sale is released first.
    page.click(&format!("Open order {order}")).await;
    page.click("Close").await;
    page.until_role_says("status", &format!("Order {order} closed: 5 units ordered"))
        .await;
    page.fill("Units received", "1").await;
    page.click("Receive").await;
    page.until_role_says("status", &format!("released 1 to {first}"))
        .await;
    let sales = until_rows(page, "Sales that fed this order", |r| {
        r.len() == 2 && r.iter().any(|row| row[2] == "1")
    })
    .await;
    let released = |sale: &str| {
        sales
            .iter()
            .find(|r| r[0] == sale)
            .map(|r| (r[1].clone(), r[2].clone()))
    };
    assert_eq!(released(&first), Some(("2".to_owned(), "1".to_owned())));
    assert_eq!(released(&second), Some(("3".to_owned(), "0".to_owned())));
    page.choose("Show", "Partly received").await;
    page.click("Filter").await;
    // Only the received-in-part order: the new filter's answer has replaced the table.
    until_rows(page, ORDERS, |r| {
        r.len() == 1 && r[0][0] == order && r[0][7] == "1" && r[0][2].contains("partially")
    })
    .await;
    page.shot("replenishments").await;

    // Waiting: first in, first out.
    page.screen("Waiting").await;
    page.fill("SKU", "CHAIR-1").await;
    page.click("Show waiting sales").await;
    page.until_role_says("status", "2 sales wait on CHAIR-1")
        .await;
    let waiting = page
        .table("Sales waiting on the SKU, first in first out")
        .await;
    assert_eq!(waiting[0][1], first);
    assert_eq!(waiting[0][2], "1");
    assert_eq!(waiting[1][1], second);
    assert_eq!(waiting[1][2], "3");
    page.shot("waiting").await;

    // A third sale opens a new order.
    let (_, said) = page.sale("late", &[("CHAIR-1", "1")]).await;
    let new_order = order_of(&said);
    assert_ne!(new_order, order, "{said}");

    // An error is shown with its field, and the form keeps what was typed.
    page.screen("New sale").await;
    page.fill("Customer", "oops").await;
    page.fill("SKU, line 1", "CHAIR-1").await;
    page.fill("Quantity, line 1", "1").await;
    page.click("Add line").await;
    page.fill("SKU, line 2", "CHAIR-1").await;
    page.fill("Quantity, line 2", "0").await;
    page.click("Finalize").await;
    let alert = page
        .until_role_says("alert", "Field: lines[1].quantity")
        .await;
    assert!(alert.contains("must be an integer"), "{alert}");
    let bad = page.labelled("Quantity, line 2").await;
    assert_eq!(bad.prop("value").await.unwrap().as_deref(), Some("0"));
    assert_eq!(
        bad.attr("aria-invalid").await.unwrap().as_deref(),
        Some("true")
    );
    let kept = page.labelled("SKU, line 2").await;
    assert_eq!(
        kept.prop("value").await.unwrap().as_deref(),
        Some("CHAIR-1")
    );
    assert_eq!(
        page.labelled("Customer")
            .await
            .prop("value")
            .await
            .unwrap()
            .as_deref(),
        Some("oops")
    );
    page.shot("error").await;

    // The SKU's figures and its chart.
    page.screen("SKU").await;
    page.fill("SKU", "CHAIR-1").await;
    page.click("Open SKU").await;
    page.visible("//*[name()='svg' and @role='img']", "the chart")
        .await;
    let stock = until_rows(page, "Units of the SKU", |r| r[0][0] == "-5").await;
    page.client
        .execute(
            "document.querySelector('h3 + figure').scrollIntoView({block: 'end'})",
            vec![],
        )
        .await
        .unwrap();
    // 0 - 2 - 3 + 1 - 1 on hand; 5 ordered (1 received) + 1 still open on order.
    assert_eq!(stock[0][0], "-5", "{stock:?}");
    assert_eq!(stock[0][1], "5", "{stock:?}");
    assert_eq!(stock[0][2], "5", "{stock:?}");
    assert_eq!(stock[0][3], "0", "{stock:?}");
    page.shot("sku").await;
    Ok(())
}

/// The rows of a table once `ready` holds for them (tables are redrawn after each answer).
async fn until_rows(
    page: &Page,
    caption: &str,
    ready: impl Fn(&[Vec<String>]) -> bool,
) -> Vec<Vec<String>> {
    let start = Instant::now();
    loop {
        let rows = page.table(caption).await;
        if ready(&rows) {
            return rows;
        }
        assert!(
            start.elapsed() < WAIT,
            "{caption}: never as expected: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
