//! Signing a browser in: `POST /v1/session` trades a token of the `--auth` file for two
//! cookies, the token itself (HttpOnly, SameSite=Strict: no script and no other site sends it)
//! and a random CSRF value the page reads and echoes in the `X-CSRF-Token` header of every
//! state-changing request (checked in [`super::auth`]). `DELETE /v1/session` signs out;
//! `GET /v1/me` says who the caller is and whether the server checks tokens at all.

use axum::Json as AxJson;
use axum::extract::State;
use axum::http::header::SET_COOKIE;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::AppendHeaders;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value as Json, json};

use super::api::openapi::Method::{Delete, Get, Post};
use super::api::openapi::Op;
use super::api::{Body, object, ok};
use super::{ApiError, Server, User};

/// The cookie holding a signed-in browser's token, base64url-encoded.
pub(super) const SESSION_COOKIE: &str = "wflow_session";
/// The cookie whose value a page sends back in [`CSRF_HEADER`].
pub(super) const CSRF_COOKIE: &str = "wflow_csrf";
/// The header of a state-changing request that proves it comes from wflow's own page.
pub(super) const CSRF_HEADER: &str = "x-csrf-token";

/// The session's operations (see `api::ops`).
pub(super) fn ops() -> Vec<Op> {
    vec![
        Op::new(
            Post,
            "/v1/session",
            "Sign a browser in with a token of the --auth file: sets the HttpOnly session \
             cookie and the CSRF cookie whose value state-changing requests send in \
             X-CSRF-Token",
            sign_in,
        )
        .public()
        .body(
            json!({
                "type": "object", "additionalProperties": false, "required": ["token"],
                "properties": { "token": { "type": "string", "minLength": 1 } },
            }),
            true,
        )
        .returns("user", json!({ "type": "object" }))
        .errors(&[422]),
        Op::new(
            Delete,
            "/v1/session",
            "Sign out: clears the cookies",
            sign_out,
        )
        .public(),
        Op::new(
            Get,
            "/v1/me",
            "Who the caller is; `auth` false when the server checks no tokens (everyone is \
             an admin)",
            me,
        )
        .returns("user", json!({ "type": "object" })),
    ]
}

/// The value of cookie `name` in `headers`.
pub(super) fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The token a session cookie holds.
pub(super) fn session_token(headers: &HeaderMap) -> Option<String> {
    let raw = cookie(headers, SESSION_COOKIE)?;
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    String::from_utf8(bytes).ok()
}

/// The user as `/v1/me` and sign-in show them.
fn shown(user: &User) -> Json {
    json!({
        "email": user.email, "roles": user.roles, "teams": user.teams, "admin": user.is_admin(),
    })
}

async fn sign_in(
    State(s): State<Server>,
    Body(body): Body,
) -> Result<
    (
        AppendHeaders<[(header::HeaderName, String); 2]>,
        AxJson<Json>,
    ),
    ApiError,
> {
    let body = object(body, "the body")?;
    let Some(token) = body.get("token").and_then(Json::as_str) else {
        return Err(ApiError::invalid(vec![super::Problem::at(
            "/token",
            "`token` is required: a token of the server's --auth file",
        )]));
    };
    let user = match &s.0.auth {
        None => User::local_admin(),
        Some(auth) => auth.by_token(token).ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the token is not known to this server".into(),
            )
        })?,
    };
    let csrf = uuid::Uuid::new_v4().simple().to_string();
    let cookies = [
        (
            SET_COOKIE,
            format!(
                "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Strict",
                URL_SAFE_NO_PAD.encode(token)
            ),
        ),
        (
            SET_COOKIE,
            format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict"),
        ),
    ];
    Ok((AppendHeaders(cookies), ok("user", shown(&user))))
}

async fn sign_out() -> (
    AppendHeaders<[(header::HeaderName, String); 2]>,
    AxJson<Json>,
) {
    let gone = |name: &str| {
        (
            SET_COOKIE,
            format!("{name}=; Path=/; Max-Age=0; HttpOnly; SameSite=Strict"),
        )
    };
    (
        AppendHeaders([gone(SESSION_COOKIE), gone(CSRF_COOKIE)]),
        AxJson(json!({ "ok": true })),
    )
}

async fn me(State(s): State<Server>, user: User) -> AxJson<Json> {
    let mut answer = ok("user", shown(&user));
    answer.0["auth"] = Json::Bool(s.0.auth.is_some());
    answer
}
