//! Commands on runs from outside the interpreter: finishing, approval responses, completing a
//! waiting node, cancelling, retrying a failed run from its failed node.

use serde_json::{Map, Value as Json, json};
use wflow_compiler::ir::{self, NodeConfig};

use crate::engine::{
    Conclusion, Engine, Error, NodeStatus, RunStatus, State, frontier, log, now, terminates,
};
use crate::inputs;
use crate::plan::Plan;
use crate::secret_inputs;
use crate::secrets::Secrets;
use wflow_store::{ResponseRecord, Write};

/// Who responds to an approval: an email, and the roles and teams the person has.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Responder {
    pub email: String,
    pub roles: Vec<String>,
    pub teams: Vec<String>,
}

impl Responder {
    /// Whether the person is one of `r`'s users, or has one of its roles or teams (Port ORs
    /// them). Responders that list nobody let anyone respond.
    pub fn may_respond(&self, r: &ir::Responders) -> bool {
        let listed = |names: &[ir::Name], have: &[String]| {
            names
                .iter()
                .any(|n| have.iter().any(|h| h.eq_ignore_ascii_case(&n.value)))
        };
        (r.users.is_empty() && r.roles.is_empty() && r.teams.is_empty())
            || listed(&r.users, std::slice::from_ref(&self.email))
            || listed(&r.roles, &self.roles)
            || listed(&r.teams, &self.teams)
    }
}

/// What waiting node `node` of `plan` waits for, in words every surface can show: an
/// approval's responders and buttons, or a completion from outside.
pub fn awaited(plan: &Plan, node: &str) -> String {
    let Some(NodeConfig::Input(input)) = plan.node(node).map(|n| &n.config) else {
        return "a completion from outside (a report on its node run)".into();
    };
    let who: Vec<String> = input.responders.iter().flat_map(listed).collect();
    let buttons: Vec<&str> = input
        .outlets
        .iter()
        .map(|o| o.identifier.value.as_str())
        .collect();
    format!(
        "an approval by {} (buttons: {})",
        if who.is_empty() {
            "an admin or the run's creator".to_string()
        } else {
            who.join("; ")
        },
        buttons.join(", ")
    )
}

/// The users, roles and teams `r` lists, as `users a, b`, `roles c`, ...
fn listed(r: &ir::Responders) -> Vec<String> {
    let names = |label: &str, list: &[ir::Name]| {
        (!list.is_empty()).then(|| {
            let v: Vec<&str> = list.iter().map(|n| n.value.as_str()).collect();
            format!("{label} {}", v.join(", "))
        })
    };
    [
        names("users", &r.users),
        names("roles", &r.roles),
        names("teams", &r.teams),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// What a response did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Responded {
    /// Recorded; the outlet still needs more responses.
    Recorded {
        button: String,
        have: u64,
        need: u64,
    },
    /// The outlet reached its number of responders; the run continues down it.
    Decided { outlet: String },
}

/// A person's answer to an approval: the button pressed, the form's inputs, and the run's
/// secrets (its secret inputs are decrypted if sent encrypted, concealed, and stored encrypted
/// with the key among them).
pub struct Answer<'a> {
    pub button: &'a str,
    pub inputs: &'a Map<String, Json>,
    pub secrets: &'a Secrets,
}

impl Engine {
    /// Completes the run with `result`; node runs still in progress are cancelled.
    pub(crate) async fn finish(
        &self,
        st: &mut State,
        result: Conclusion,
        error: Option<String>,
    ) -> Result<(), Error> {
        let at = now();
        if result != Conclusion::Success {
            let open: Vec<_> = st
                .nodes
                .values()
                .filter(|r| r.status == NodeStatus::InProgress)
                .cloned()
                .collect();
            for mut r in open {
                r.status = NodeStatus::Completed;
                r.result = Some(Conclusion::Cancelled);
                r.waiting = false;
                r.updated_at = at.clone();
                r.completed_at = Some(at.clone());
                st.put(r);
            }
        }
        st.run.status = RunStatus::Completed;
        st.run.result = Some(result);
        st.run.error = error.clone();
        st.run.completed_at = Some(at.clone());
        st.pending.push(Write::FinishRun {
            id: st.run.id.clone(),
            status: RunStatus::Completed,
            result: Some(result),
            error,
            at,
        });
        self.flush(st).await?;
        Ok(())
    }

    async fn waiting_node(&self, run_id: &str, node: &str) -> Result<State, Error> {
        let st = self.load(run_id).await?;
        if st.run.status == RunStatus::Completed {
            return Err(Error::Conflict(format!(
                "run `{run_id}` already completed ({}); nothing is waiting",
                shown(st.run.result)
            )));
        }
        match st.nodes.get(node) {
            Some(r)
                if r.status == NodeStatus::InProgress
                    && crate::retry::expired(r, &self.clock.stamp()) =>
            {
                Err(Error::Conflict(format!(
                    "node `{node}` of run `{run_id}` stopped waiting at {}: its timeout passed; \
                 the run goes on down its timeout path when it is next driven (`wflow serve` \
                 does it, or `wflow runs resume {run_id}`)",
                    r.deadline.as_deref().unwrap_or("?")
                )))
            }
            Some(r) if r.status == NodeStatus::InProgress && r.waiting => Ok(st),
            Some(r) if r.status == NodeStatus::InProgress => Err(Error::Conflict(format!(
                "node `{node}` of run `{run_id}` is running, not waiting; if its process died, \
                 use `wflow runs resume {run_id}`"
            ))),
            Some(_) => Err(Error::Conflict(format!(
                "node `{node}` of run `{run_id}` already completed"
            ))),
            None => {
                let waiting: Vec<&str> = st
                    .nodes
                    .values()
                    .filter(|r| r.waiting && r.status == NodeStatus::InProgress)
                    .map(|r| r.node.as_str())
                    .collect();
                Err(Error::Conflict(format!(
                    "node `{node}` of run `{run_id}` has not started; waiting nodes: {}",
                    if waiting.is_empty() {
                        "none".to_string()
                    } else {
                        waiting.join(", ")
                    }
                )))
            }
        }
    }

    /// Reopens the failed run `run_id` at the node that failed it, leased to `lease`'s owner:
    /// that node runs again as the same node run (a side effect keeps its Idempotency-Key),
    /// and the nodes that completed are not run again. `by` is logged. Returns the node;
    /// drive the run afterwards, or, under a concurrency limit, once [`Store::admit`] starts
    /// it: it is queued again.
    ///
    /// [`Store::admit`]: crate::store::Store::admit
    pub async fn retry(
        &self,
        plan: &Plan,
        run_id: &str,
        lease: (&str, std::time::Duration),
        by: &str,
    ) -> Result<String, Error> {
        let st = self.load(run_id).await?;
        let failed = frontier(plan, &st, &Default::default(), &self.clock.stamp()).failed;
        let node = match (st.run.result, failed) {
            (Some(Conclusion::Failed), Some(node)) => node.to_string(),
            (Some(Conclusion::Failed), _) => {
                return Err(Error::Conflict(format!(
                    "run `{run_id}` failed before any node did ({}); start it again with rerun",
                    st.run.error.as_deref().unwrap_or("no reason recorded")
                )));
            }
            (result, _) => {
                return Err(Error::Conflict(format!(
                    "run `{run_id}` is {}, not FAILED; only a failed run can be retried",
                    result.map_or(st.run.status.as_str(), Conclusion::as_str)
                )));
            }
        };
        if !self.store.reopen(run_id, lease.0, lease.1).await? {
            return Err(Error::Conflict(format!(
                "run `{run_id}` was retried or changed by another process meanwhile"
            )));
        }
        let mut st = self.load(run_id).await?;
        // The failed node, and the nodes of parallel branches its failure stopped.
        let reopened: Vec<_> = st
            .nodes
            .values()
            .filter(|r| r.node == node || r.result == Some(Conclusion::Cancelled))
            .cloned()
            .collect();
        for mut rec in reopened {
            rec.status = NodeStatus::InProgress;
            rec.result = None;
            rec.output = None;
            rec.outlet = None;
            rec.fallback = false;
            rec.waiting = false;
            rec.deadline = None;
            rec.updated_at = now();
            rec.completed_at = None;
            st.put(rec);
        }
        st.log(log(
            &node,
            "INFO",
            format!("retrying the run from this node (asked by {by})"),
        ));
        self.flush(&mut st).await?;
        if st.run.concurrency.is_some() {
            self.store.requeue(run_id).await?;
        }
        Ok(node)
    }

    /// Completes a node that waits to be completed from outside (an unsynchronized webhook),
    /// as Port's `PATCH .../nodes/{nodeRun}` does. Drive the run afterwards.
    pub async fn complete(
        &self,
        plan: &Plan,
        run_id: &str,
        node: &str,
        result: Conclusion,
        output: Option<Json>,
    ) -> Result<(), Error> {
        if result == Conclusion::Cancelled {
            return Err(Error::Invalid(format!(
                "a node is completed from outside as SUCCESS or FAILED, not {result}"
            )));
        }
        if let Some(NodeConfig::Input(_)) = plan.node(node).map(|n| &n.config) {
            return Err(Error::Invalid(format!(
                "node `{node}` is an approval; answer it with `wflow runs respond {run_id} {node} --button <id> --as <email>`"
            )));
        }
        let mut st = self.waiting_node(run_id, node).await?;
        let Some(mut rec) = st.nodes.get(node).cloned() else {
            return Err(Error::Conflict(format!("node `{node}` is not waiting")));
        };
        let at = now();
        let mut out = match (rec.output.take(), output) {
            (_, Some(o)) => o,
            (Some(o), None) => o,
            (None, None) => json!({}),
        };
        if result == Conclusion::Failed
            && let Json::Object(m) = &mut out
        {
            m.entry("error")
                .or_insert_with(|| json!({ "message": "completed as FAILED from outside" }));
        }
        let message = out["error"]["message"]
            .as_str()
            .unwrap_or("completed as FAILED from outside")
            .to_string();
        rec.output = Some(out);
        rec.status = NodeStatus::Completed;
        rec.result = Some(result);
        rec.waiting = false;
        rec.updated_at = at.clone();
        rec.completed_at = Some(at);
        st.put(rec);
        st.log(log(
            node,
            "INFO",
            format!("completed from outside as {result}"),
        ));
        // A failed node under `onFailure: terminate` fails the run, as it does when it fails
        // while running.
        let ends_run = plan.node(node).is_some_and(|n| terminates(plan, n));
        if result == Conclusion::Failed && ends_run {
            return self
                .finish(
                    &mut st,
                    Conclusion::Failed,
                    Some(format!("node `{node}` failed: {message}")),
                )
                .await;
        }
        self.flush(&mut st).await?;
        Ok(())
    }

    /// Records `responder`'s response to the approval `node`, as [`Engine::respond_as`] does
    /// for a person with no roles and no teams. Each person responds once, and the inputs are
    /// validated against the node's form. When the button's outlet reaches its number of
    /// responders the node completes down that outlet; drive the run afterwards.
    pub async fn respond(
        &self,
        plan: &Plan,
        run_id: &str,
        node: &str,
        responder: &str,
        answer: &Answer<'_>,
    ) -> Result<Responded, Error> {
        let who = Responder {
            email: responder.to_string(),
            ..Responder::default()
        };
        self.respond_as(plan, run_id, node, &who, answer).await
    }

    /// [`Engine::respond`] by `who`, whose roles and teams count too: the node's responders
    /// are enforced (users, roles and teams, OR'ed), then the response is recorded as
    /// [`Engine::respond_authorized`] does.
    pub async fn respond_as(
        &self,
        plan: &Plan,
        run_id: &str,
        node: &str,
        who: &Responder,
        answer: &Answer<'_>,
    ) -> Result<Responded, Error> {
        if let Some(NodeConfig::Input(input)) = plan.node(node).map(|n| &n.config)
            && let Some(r) = &input.responders
            && !who.may_respond(r)
        {
            let allowed = listed(r);
            let have = |l: &[String]| {
                if l.is_empty() {
                    "none".to_string()
                } else {
                    l.join(", ")
                }
            };
            return Err(Error::Forbidden(format!(
                "`{}` (roles: {}; teams: {}) may not respond to node `{node}`; its responders \
                 are {}",
                who.email,
                have(&who.roles),
                have(&who.teams),
                allowed.join("; ")
            )));
        }
        self.respond_authorized(plan, run_id, node, &who.email, answer)
            .await
    }

    /// [`Engine::respond`] for a responder the caller has already authorized (by users, roles
    /// or teams).
    pub async fn respond_authorized(
        &self,
        plan: &Plan,
        run_id: &str,
        node: &str,
        responder: &str,
        answer: &Answer<'_>,
    ) -> Result<Responded, Error> {
        let button = answer.button;
        let Some(NodeConfig::Input(input)) = plan.node(node).map(|n| &n.config) else {
            return Err(Error::Invalid(format!(
                "node `{node}` is not an approval (INPUT) node"
            )));
        };
        let Some(outlet) = input.outlets.iter().find(|o| o.identifier.value == button) else {
            let ids: Vec<&str> = input
                .outlets
                .iter()
                .map(|o| o.identifier.value.as_str())
                .collect();
            return Err(Error::Invalid(format!(
                "node `{node}` has no button `{button}`; its buttons: {}",
                ids.join(", ")
            )));
        };
        let mut given = answer.inputs.clone();
        let mut problems = secret_inputs::accept(&input.user_inputs, &mut given, answer.secrets);
        let mut values = match inputs::validate(&input.user_inputs, &given) {
            Ok(values) if problems.is_empty() => values,
            Ok(_) => return Err(invalid_answer(&problems)),
            Err(found) => {
                problems.extend(found);
                return Err(invalid_answer(&problems));
            }
        };
        secret_inputs::seal_answer(&input.user_inputs, &mut values, answer.secrets);
        let mut st = self.waiting_node(run_id, node).await?;
        let previous = self.store.responses(run_id, node).await?;
        if previous
            .iter()
            .any(|p| p.responder.eq_ignore_ascii_case(responder))
        {
            return Err(Error::Conflict(format!(
                "`{responder}` already responded to node `{node}`; each person responds once"
            )));
        }
        let record = ResponseRecord {
            responder: responder.to_string(),
            button: button.to_string(),
            inputs: Json::Object(values),
            at: now(),
        };
        st.pending.push(Write::Response {
            run_id: run_id.to_string(),
            node: node.to_string(),
            record: record.clone(),
        });
        st.log(log(
            node,
            "INFO",
            format!("{responder} responded `{button}`"),
        ));
        let mut all = previous;
        all.push(record);
        let have = all.iter().filter(|r| r.button == button).count() as u64;
        let need = outlet.num_of_responders.unwrap_or(1).max(1);
        if have < need {
            self.flush(&mut st).await?;
            return Ok(Responded::Recorded {
                button: button.to_string(),
                have,
                need,
            });
        }
        let Some(mut rec) = st.nodes.get(node).cloned() else {
            return Err(Error::Conflict(format!("node `{node}` is not waiting")));
        };
        let responses: Vec<Json> = all
            .iter()
            .map(|r| {
                json!({
                    "button": r.button,
                    "inputs": r.inputs,
                    "submitterInfo": { "submittedBy": r.responder, "submittedAt": r.at },
                })
            })
            .collect();
        let mut out = match rec.output.take() {
            Some(Json::Object(m)) => m,
            _ => Map::new(),
        };
        out.insert("selectedOutlet".into(), json!({ "identifier": button }));
        out.insert("responses".into(), Json::Array(responses));
        let at = now();
        rec.output = Some(Json::Object(out));
        rec.outlet = Some(button.to_string());
        rec.status = NodeStatus::Completed;
        rec.result = Some(Conclusion::Success);
        rec.waiting = false;
        rec.updated_at = at.clone();
        rec.completed_at = Some(at);
        st.put(rec);
        self.flush(&mut st).await?;
        Ok(Responded::Decided {
            outlet: button.to_string(),
        })
    }

    /// Cancels a run. A queued run, or one that only waits (for approvals or outside
    /// completions), is cancelled at once; a running one is asked to stop before its next
    /// node, or, with `force`, cancelled at once (its running nodes are marked CANCELLED).
    /// Returns whether the run is now cancelled (rather than only asked to stop).
    pub async fn cancel(&self, run_id: &str, force: bool) -> Result<bool, Error> {
        let mut st = self.load(run_id).await?;
        if st.run.status == RunStatus::Queued {
            if self.store.cancel_queued(run_id, &now()).await? {
                return Ok(true);
            }
            // Started meanwhile: cancelled as a started run.
            st = self.load(run_id).await?;
        }
        if st.run.status == RunStatus::Completed {
            return Err(Error::Conflict(format!(
                "run `{run_id}` already completed ({})",
                shown(st.run.result)
            )));
        }
        let running = st
            .nodes
            .values()
            .any(|r| r.status == NodeStatus::InProgress && !r.waiting);
        if running && !force {
            self.store
                .apply(vec![Write::RequestCancel {
                    id: run_id.to_string(),
                    at: now(),
                }])
                .await?;
            return Ok(false);
        }
        self.finish(
            &mut st,
            Conclusion::Cancelled,
            Some("the run was cancelled".into()),
        )
        .await?;
        Ok(true)
    }
}

/// The refusal of an answer whose inputs have `problems`.
fn invalid_answer(problems: &[inputs::InputProblem]) -> Error {
    let lines: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
    Error::Invalid(format!(
        "the response's inputs are not valid:\n{}",
        lines.join("\n")
    ))
}

/// A completed run's result for a message (`?` if none was recorded).
fn shown(result: Option<Conclusion>) -> &'static str {
    result.map_or("?", Conclusion::as_str)
}
