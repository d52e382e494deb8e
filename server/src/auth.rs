//! Who is calling and what they may do: bearer tokens from a JSON file mapped to users, Port's
//! self-service permissions, run visibility and approval responders.
//!
//! The file: `{"users": [{"token": "...", "email": "a@example.com", "roles": ["Admin"],
//! "teams": ["platform"], "properties": {"department": "eng"}, "machine": false}]}`. A user
//! with the role `Admin` may do everything. `properties` are what permission policies read of
//! the user; a `machine` token (an automation's) skips the static permission checks of
//! triggers without a policy, and sees and reports on every run.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde_json::{Map, Value as Json};
use wflow_compiler::ir::{Permissions, Responders, Workflow};

use super::{ApiError, Server, policy};
use wflow_engine::control::Responder;
use wflow_store::RunRecord;

/// A caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// `None` for the anonymous admin of a server without `--auth`.
    pub email: Option<String>,
    pub roles: Vec<String>,
    pub teams: Vec<String>,
    /// A machine token: an automation rather than a person.
    pub machine: bool,
    /// What permission policies read of the user (`department`, ...).
    pub properties: Map<String, Json>,
}

impl User {
    /// The anonymous admin every caller is without `--auth` (local use).
    pub fn local_admin() -> User {
        User {
            email: None,
            roles: vec!["Admin".into()],
            teams: Vec::new(),
            machine: false,
            properties: Map::new(),
        }
    }

    /// Whether the user has the `Admin` role.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case("admin"))
    }

    fn is(&self, email: &str) -> bool {
        self.email
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case(email))
    }

    fn in_any(&self, roles: &[String], teams: &[String], users: &[String]) -> bool {
        roles
            .iter()
            .any(|r| self.roles.iter().any(|m| m.eq_ignore_ascii_case(r)))
            || teams.iter().any(|t| self.teams.contains(t))
            || users.iter().any(|u| self.is(u))
    }

    /// Whether the user may run a self-service trigger with `permissions`, submitting `form`
    /// (`None`: not submitted yet; then `None` when only the form can tell). Omitted or `{}`:
    /// admins only; otherwise admins and the listed roles, users and teams, or else whoever
    /// the `policy` allows. A machine token passes when there is no policy.
    pub fn may_execute(
        &self,
        permissions: Option<&Permissions>,
        form: Option<&Map<String, Json>>,
    ) -> Option<bool> {
        if self.is_admin() {
            return Some(true);
        }
        let policy = permissions
            .and_then(|p| p.policy.as_ref())
            .map(wflow_compiler::ir::Value::to_json)
            .filter(|p| !p.is_null());
        let names = |v: Option<&Vec<wflow_compiler::ir::Name>>| -> Vec<String> {
            v.into_iter().flatten().map(|n| n.value.clone()).collect()
        };
        let listed = permissions.is_some_and(|p| {
            self.in_any(
                &names(p.roles.as_ref()),
                &names(p.teams.as_ref()),
                &names(p.users.as_ref()),
            )
        });
        match policy {
            _ if listed => Some(true),
            Some(policy) => policy::allows(&policy, self, form),
            None => Some(self.machine),
        }
    }

    /// Whether the user may see `run` of `workflow` (admins, its creator, anyone when the
    /// workflow allows it).
    pub fn may_view(&self, run: &RunRecord, workflow: Option<&Workflow>) -> bool {
        self.may_act_on(run) || workflow.and_then(|w| w.allow_anyone_to_view_runs) == Some(true)
    }

    /// Whether the user may cancel `run` or report on its nodes (admins, machine tokens and
    /// its creator).
    pub fn may_act_on(&self, run: &RunRecord) -> bool {
        self.is_admin() || self.machine || run.created_by.as_deref().is_some_and(|c| self.is(c))
    }

    /// Whether the user may answer an approval with `responders` on `run`: admins, and the
    /// listed users, roles and teams; with none listed, whoever may act on the run.
    pub fn may_respond(&self, responders: Option<&Responders>, run: &RunRecord) -> bool {
        match responders {
            _ if self.is_admin() => true,
            Some(r) if !(r.users.is_empty() && r.roles.is_empty() && r.teams.is_empty()) => {
                self.responder().may_respond(r)
            }
            _ => self.may_act_on(run),
        }
    }

    /// The user as form expressions read them (`.user`, `.trigger.by.user`; teams as
    /// `{"name"}` objects, as in Port).
    pub fn person(&self) -> Json {
        serde_json::json!({
            "email": self.email, "roles": self.roles,
            "teams": self.teams.iter().map(|t| serde_json::json!({ "name": t })).collect::<Vec<_>>(),
        })
    }

    /// The user as the engine records a responder (`admin` for the anonymous admin).
    pub fn responder(&self) -> Responder {
        Responder {
            email: self.email.clone().unwrap_or_else(|| "admin".into()),
            roles: self.roles.clone(),
            teams: self.teams.clone(),
        }
    }
}

/// The users of a server, by token.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    by_token: HashMap<String, User>,
}

impl Auth {
    /// The user whose token is `token`.
    pub fn by_token(&self, token: &str) -> Option<User> {
        self.by_token.get(token).cloned()
    }

    /// The user with `email` (compared without case), for a process acting as them.
    pub fn user(&self, email: &str) -> Option<User> {
        self.by_token.values().find(|u| u.is(email)).cloned()
    }

    /// Reads an auth file's text; every problem is reported (tokens are never quoted).
    pub fn parse(text: &str) -> Result<Auth, Vec<String>> {
        let v: Json = serde_json::from_str(text).map_err(|e| vec![format!("not JSON: {e}")])?;
        let Some(users) = v.get("users").and_then(Json::as_array) else {
            return Err(vec![
                "expected {\"users\": [{\"token\", \"email\", \"roles\", \"teams\"}]}".into(),
            ]);
        };
        let mut problems = Vec::new();
        let mut by_token = HashMap::new();
        for (i, u) in users.iter().enumerate() {
            let strings = |key: &str, problems: &mut Vec<String>| -> Vec<String> {
                match u.get(key) {
                    None => Vec::new(),
                    Some(Json::Array(a)) if a.iter().all(Json::is_string) => a
                        .iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect(),
                    Some(_) => {
                        problems.push(format!("users[{i}].{key}: expected a list of strings"));
                        Vec::new()
                    }
                }
            };
            let email = u.get("email").and_then(Json::as_str).map(str::to_string);
            if email.is_none() {
                problems.push(format!("users[{i}].email: a string is required"));
            }
            let token = u.get("token").and_then(Json::as_str).unwrap_or_default();
            if token.len() < 16 {
                problems.push(format!(
                    "users[{i}].token: a token of at least 16 characters is required"
                ));
            }
            let machine = match u.get("machine") {
                None => false,
                Some(Json::Bool(b)) => *b,
                Some(_) => {
                    problems.push(format!("users[{i}].machine: expected true or false"));
                    false
                }
            };
            let properties = match u.get("properties") {
                None => Map::new(),
                Some(Json::Object(m)) => m.clone(),
                Some(_) => {
                    problems.push(format!("users[{i}].properties: expected an object"));
                    Map::new()
                }
            };
            let user = User {
                email,
                roles: strings("roles", &mut problems),
                teams: strings("teams", &mut problems),
                machine,
                properties,
            };
            if by_token.insert(token.to_string(), user).is_some() {
                problems.push(format!("users[{i}].token: the same token is given twice"));
            }
        }
        if problems.is_empty() {
            Ok(Auth { by_token })
        } else {
            Err(problems)
        }
    }
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        message.to_string(),
    )
}

/// The 403 for an action the user may not take.
pub(super) fn forbidden(message: String) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
}

impl FromRequestParts<Server> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, server: &Server) -> Result<User, ApiError> {
        let Some(auth) = &server.0.auth else {
            return Ok(User::local_admin());
        };
        let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) else {
            return signed_in(parts, auth);
        };
        let token = header
            .to_str()
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        auth.by_token(token)
            .ok_or_else(|| unauthorized("the bearer token is not known to this server"))
    }
}

/// The user of a browser signed in with `POST /v1/session`: its session cookie names the
/// token, and a state-changing request must echo the CSRF cookie in `X-CSRF-Token` (another
/// site's page can make the browser send the cookies, but cannot read them).
fn signed_in(parts: &Parts, auth: &Auth) -> Result<User, ApiError> {
    use super::session::{CSRF_COOKIE, CSRF_HEADER, cookie, session_token};
    let Some(token) = session_token(&parts.headers) else {
        return Err(unauthorized(
            "no Authorization header; send `Authorization: Bearer <token>` (or sign in with \
             POST /v1/session)",
        ));
    };
    if !parts.method.is_safe() {
        let sent = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let expected = cookie(&parts.headers, CSRF_COOKIE);
        if sent.is_none() || sent != expected {
            return Err(forbidden(
                "a signed-in request that changes something must send the `wflow_csrf` \
                 cookie's value in the X-CSRF-Token header"
                    .into(),
            ));
        }
    }
    auth.by_token(&token)
        .ok_or_else(|| unauthorized("the session's token is no longer known; sign in again"))
}
