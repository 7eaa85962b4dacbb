//! `console`: the operator console, a page for the merchant's people. Public routes (no
//! authorizer): the page holds no data; its calls to the API carry the caller's token.
//!
//! - `GET /console` (and `/console/`): the page
//! - `GET /console/{proxy+}`: its script and style, and `config.json`, the page's settings (the
//!   API's base URL, the OAuth 2.0 issuer, endpoints, client id, audience and scopes)
//!
//! The assets are compiled into the binary: no build step, no CDN.

use backorder::http::{error_response, route};
use backorder::routes::{ConsoleOp, Operation};
use backorder::ApiError;
use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;

/// The page's assets: (path under `/console/`, content type, text).
pub const ASSETS: &[(&str, &str, &str)] = &[
    ("", HTML, include_str!("../assets/index.html")),
    ("app.js", JS, include_str!("../assets/app.js")),
    ("api.js", JS, include_str!("../assets/api.js")),
    ("chart.js", JS, include_str!("../assets/chart.js")),
    ("style.css", CSS, include_str!("../assets/style.css")),
];

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// What the page is told about where it runs (`GET /console/config.json`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsoleConfig {
    /// `oauth` (deployed: sign in, send `Authorization: Bearer`) or `local` (`make dev`: the
    /// account is chosen in the page and sent as `X-Account-Id`).
    pub auth: String,
    /// Base URL of the API; empty: the page's own origin.
    pub api_base: String,
    pub issuer: String,
    pub authorize_url: String,
    pub token_url: String,
    pub client_id: String,
    pub audience: String,
    /// Space-separated scopes to ask for.
    pub scopes: String,
}

impl ConsoleConfig {
    /// From the environment the template sets: `OAUTH_ISSUER` (required), `OAUTH_AUTHORIZE_URL`,
    /// `OAUTH_TOKEN_URL`, `OAUTH_CLIENT_ID`, `OAUTH_AUDIENCE`, `OAUTH_SCOPES`, `CONSOLE_API_BASE`
    /// (the page says sign-in is not set up while the endpoints or client id are empty).
    pub fn from_env() -> Result<Self, String> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let required = |name: &str| {
            var(name)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("{name} is not set"))
        };
        let optional = |name: &str| var(name).unwrap_or_default();
        Ok(ConsoleConfig {
            auth: "oauth".to_owned(),
            api_base: optional("CONSOLE_API_BASE"),
            issuer: required("OAUTH_ISSUER")?,
            authorize_url: optional("OAUTH_AUTHORIZE_URL"),
            token_url: optional("OAUTH_TOKEN_URL"),
            client_id: optional("OAUTH_CLIENT_ID"),
            audience: optional("OAUTH_AUDIENCE"),
            scopes: optional("OAUTH_SCOPES"),
        })
    }

    /// The local server's: same origin, the account chosen in the page.
    pub fn local() -> Self {
        ConsoleConfig {
            auth: "local".to_owned(),
            ..Default::default()
        }
    }
}

/// Serves one request for the page or one of its assets.
pub fn handle(config: &ConsoleConfig, req: &Request) -> Response<Body> {
    let Some(op) = route(req).and_then(|r| ConsoleOp::of(r.endpoint)) else {
        return error_response(&not_found(req.raw_http_path()));
    };
    let name = match op {
        ConsoleOp::Page => String::new(),
        ConsoleOp::Asset => req
            .path_parameters_ref()
            .and_then(|p| p.first("proxy"))
            .unwrap_or_default()
            .to_owned(),
    };
    if name == "config.json" {
        let body = serde_json::to_string(config).unwrap_or_else(|_| "{}".to_owned());
        return asset_response("application/json", body, config);
    }
    match ASSETS.iter().find(|(path, _, _)| *path == name) {
        Some((_, content_type, text)) => asset_response(content_type, (*text).to_owned(), config),
        None => error_response(&not_found(&format!("/console/{name}"))),
    }
}

fn not_found(path: &str) -> ApiError {
    tracing::info!(function = "console", status = 404, "no such asset");
    ApiError::not_found("asset_not_found", format!("no console asset at {path}"))
}

/// An asset with the headers that keep the page to its own scripts: they may call the API and
/// the token endpoint, nothing else.
fn asset_response(content_type: &str, body: String, config: &ConsoleConfig) -> Response<Body> {
    let mut resp = Response::new(Body::Text(body));
    *resp.status_mut() = StatusCode::OK;
    let connect = [config.api_base.as_str(), origin(&config.token_url)]
        .iter()
        .filter(|o| !o.is_empty())
        .fold("'self'".to_owned(), |acc, o| format!("{acc} {o}"));
    let csp = format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src {connect}; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    );
    let headers = resp.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type.to_owned()),
        (header::CACHE_CONTROL, "no-cache".to_owned()),
        (header::CONTENT_SECURITY_POLICY, csp),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
        // The sign-in's code and state stay out of other sites' logs.
        (header::REFERRER_POLICY, "no-referrer".to_owned()),
    ] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    }
    resp
}

/// `https://host[:port]` of a URL, or "" when it has none.
fn origin(url: &str) -> &str {
    let Some(scheme_end) = url.find("://") else {
        return "";
    };
    let rest = &url[scheme_end + 3..];
    match rest.find('/') {
        Some(i) => &url[..scheme_end + 3 + i],
        None => url,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_reads_the_environment_and_names_what_is_missing() {
        let vars = |name: &str| match name {
            "OAUTH_ISSUER" => Some("https://issuer.example".to_owned()),
            "OAUTH_AUTHORIZE_URL" => Some("https://auth.example/oauth2/authorize".to_owned()),
            "OAUTH_TOKEN_URL" => Some("https://auth.example/oauth2/token".to_owned()),
            "OAUTH_CLIENT_ID" => Some("client".to_owned()),
            "OAUTH_SCOPES" => Some("openid backorder/read".to_owned()),
            _ => None,
        };
        let config = ConsoleConfig::from_vars(vars).unwrap();
        assert_eq!(config.auth, "oauth");
        assert_eq!(config.scopes, "openid backorder/read");
        assert_eq!(config.api_base, "");
        let err = ConsoleConfig::from_vars(|n| (n != "OAUTH_ISSUER").then(|| vars(n)).flatten())
            .unwrap_err();
        assert_eq!(err, "OAUTH_ISSUER is not set");
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin("https://auth.example:8443/oauth2/token"),
            "https://auth.example:8443"
        );
        assert_eq!(origin("https://auth.example"), "https://auth.example");
        assert_eq!(origin(""), "");
    }
}
