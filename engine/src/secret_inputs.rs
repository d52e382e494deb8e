//! Secret form inputs (`encryption "aes256-gcm"`): accepted encrypted as Port sends them or in
//! clear, kept encrypted at rest, decrypted only in the context a node is rendered with, and
//! redacted from everything a run records.
//!
//! Port's format: the key is the first 32 bytes of the organisation's client secret (the
//! secret [`KEY_SECRET`]); a value is the base64 of IV (16 bytes) ‖ ciphertext ‖ tag
//! (16 bytes), AES-256-GCM.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng};
use aes_gcm::aes::Aes256;
use aes_gcm::{AesGcm, Nonce};
use base64::Engine as _;
use serde_json::{Map, Value as Json};
use wflow_compiler::ir::{Form, NodeConfig};

use crate::inputs::{self, InputProblem};
use crate::plan::Plan;
use crate::secrets::{REDACTED, Secrets};

/// The secret whose first 32 bytes are the key.
pub const KEY_SECRET: &str = wflow_compiler::preflight::PORT_CLIENT_SECRET;

/// AES-256-GCM with Port's 16-byte IV.
type Cipher = AesGcm<Aes256, U16>;

const IV: usize = 16;
const TAG: usize = 16;

/// The cipher keyed by the first 32 bytes of the client secret `secret`.
fn cipher(secret: &str) -> Result<Cipher, String> {
    let key = secret.as_bytes().get(..32).ok_or_else(|| {
        format!(
            "the secret `{KEY_SECRET}` is {} bytes long; the key is its first 32 bytes, so \
             give the Port organisation's client secret",
            secret.len()
        )
    })?;
    Cipher::new_from_slice(key).map_err(|e| format!("the key cannot be used: {e}"))
}

/// `clear` encrypted with a fresh random IV, as Port encrypts it: base64 of IV ‖ ciphertext ‖
/// tag.
pub fn encrypt(secret: &str, clear: &str) -> Result<String, String> {
    let c = cipher(secret)?;
    let iv = Cipher::generate_nonce(&mut OsRng);
    let sealed = c
        .encrypt(&iv, clear.as_bytes())
        .map_err(|_| "the value cannot be encrypted".to_string())?;
    let mut out = iv.to_vec();
    out.extend(sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Whether `value` has the shape of an encrypted value: base64 of at least an IV and a tag.
pub fn looks_encrypted(value: &str) -> bool {
    base64::engine::general_purpose::STANDARD
        .decode(value)
        .is_ok_and(|b| b.len() >= IV + TAG)
}

/// The clear text of an encrypted `value`, or why it cannot be had (never quoting it).
pub fn decrypt(secret: &str, value: &str) -> Result<String, String> {
    let c = cipher(secret)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .filter(|b| b.len() >= IV + TAG)
        .ok_or("it is not base64 of an IV, a ciphertext and a tag")?;
    let (iv, sealed) = bytes.split_at(IV);
    let clear = c
        .decrypt(Nonce::<U16>::from_slice(iv), sealed)
        .map_err(|_| {
            format!(
                "it does not decrypt with the key of `{KEY_SECRET}` (another organisation's \
                 key, or a damaged value); encrypt it with the client secret wflow is given, \
                 or send it in clear"
            )
        })?;
    String::from_utf8(clear).map_err(|_| "its clear text is not UTF-8".to_string())
}

/// The keys of `form`'s secret inputs.
fn secret_keys(form: &Form) -> impl Iterator<Item = &str> {
    form.properties
        .iter()
        .filter(|p| p.schema.is_secret())
        .map(|p| p.key.value.as_str())
}

/// Replaces each secret input of `given` sent encrypted by its clear value, and adds every
/// secret input's clear value to `secrets`' redaction. Returns the values that do not
/// decrypt, and those that are not strings, as problems at their inputs.
pub fn accept(form: &Form, given: &mut Map<String, Json>, secrets: &Secrets) -> Vec<InputProblem> {
    let mut problems = Vec::new();
    for key in secret_keys(form) {
        let value = match given.get_mut(key) {
            Some(Json::String(value)) => value,
            Some(Json::Null) | None => continue,
            Some(_) => {
                // Only strings are encrypted at rest: another value would be kept in clear.
                problems.push(inputs::problem_at(
                    key,
                    "is a secret input (`encryption`), which takes a string".to_string(),
                ));
                continue;
            }
        };
        if looks_encrypted(value) {
            let opened = match secrets.get(KEY_SECRET) {
                Some(secret) => decrypt(secret, value),
                None => Err(format!(
                    "no key is configured: set the secret `{KEY_SECRET}` to the Port \
                     organisation's client secret, or send the value in clear"
                )),
            };
            match opened {
                Ok(clear) => *value = clear,
                Err(why) => {
                    problems.push(inputs::problem_at(
                        key,
                        format!("is sent encrypted (base64) but cannot be decrypted: {why}"),
                    ));
                    continue;
                }
            }
        }
        secrets.conceal(value);
    }
    problems
}

/// The form of `plan`'s self-service trigger `trigger`.
fn trigger_form<'p>(plan: &'p Plan, trigger: &str) -> Option<&'p Form> {
    match &plan.node(trigger)?.config {
        NodeConfig::SelfServeTrigger(t) => Some(&t.user_inputs),
        _ => None,
    }
}

/// Prepares a run's trigger `payload` for the store: each secret input is encrypted in it
/// (with a fresh IV; one already encrypted, as a re-run's is, is kept) and redacted in the
/// returned trigger output, which records and answers show. Without a usable key, it is
/// redacted in both.
pub fn seal(plan: &Plan, trigger: &str, payload: &mut Json, secrets: &Secrets) -> Json {
    let mut shown = payload.clone();
    let Some(form) = trigger_form(plan, trigger) else {
        return shown;
    };
    let secret = secrets.get(KEY_SECRET);
    for key in secret_keys(form) {
        let Some(Json::String(value)) = payload.get_mut(key) else {
            continue;
        };
        match secret.map(|s| (s, decrypt(s, value))) {
            Some((_, Ok(clear))) => secrets.conceal(&clear),
            Some((s, Err(_))) => {
                secrets.conceal(value);
                *value = encrypt(s, value).unwrap_or_else(|_| REDACTED.to_string());
            }
            None => {
                secrets.conceal(value);
                *value = REDACTED.to_string();
            }
        }
        shown[key] = Json::String(REDACTED.to_string());
    }
    shown
}

/// The trigger `output` of a stored run with its secret inputs decrypted from the stored
/// trigger `payload`, for the context of a node; their clear values are added to `secrets`'
/// redaction.
pub fn open(plan: &Plan, trigger: &str, payload: &Json, output: &mut Json, secrets: &Secrets) {
    let (Some(form), Some(secret)) = (trigger_form(plan, trigger), secrets.get(KEY_SECRET)) else {
        return;
    };
    for key in secret_keys(form) {
        if let (Some(Json::String(value)), Json::Object(out)) = (payload.get(key), &mut *output)
            && let Ok(clear) = decrypt(secret, value)
        {
            secrets.conceal(&clear);
            out.insert(key.to_string(), Json::String(clear));
        }
    }
}

/// Prepares an approval's validated answer `values` for the store: each secret input is
/// encrypted with the key (a fresh IV), or, without a usable key, redacted. The clear values
/// were concealed by [`accept`].
pub fn seal_answer(form: &Form, values: &mut Map<String, Json>, secrets: &Secrets) {
    let secret = secrets.get(KEY_SECRET);
    for key in secret_keys(form) {
        if let Some(Json::String(value)) = values.get_mut(key) {
            *value = secret
                .and_then(|s| encrypt(s, value).ok())
                .unwrap_or_else(|| REDACTED.to_string());
        }
    }
}

/// An approval node's stored `output` with its answers' secret inputs decrypted, for the
/// context of a node; their clear values are added to `secrets`' redaction.
pub fn open_answers(form: &Form, output: &mut Json, secrets: &Secrets) {
    let Some(secret) = secrets.get(KEY_SECRET) else {
        return;
    };
    let Some(responses) = output.get_mut("responses").and_then(Json::as_array_mut) else {
        return;
    };
    for inputs in responses.iter_mut().filter_map(|r| r.get_mut("inputs")) {
        for key in secret_keys(form) {
            if let Some(Json::String(value)) = inputs.get_mut(key)
                && let Ok(clear) = decrypt(secret, value)
            {
                secrets.conceal(&clear);
                *value = clear;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-and-the-rest";

    #[test]
    fn round_trip_with_a_fresh_iv_each_time() {
        let a = encrypt(SECRET, "hunter2-clear").expect("encrypts");
        let b = encrypt(SECRET, "hunter2-clear").expect("encrypts");
        assert_ne!(a, b, "a fresh IV");
        assert!(looks_encrypted(&a));
        assert_eq!(decrypt(SECRET, &a).expect("decrypts"), "hunter2-clear");
        assert!(!a.contains("hunter2"));
        // Only the first 32 bytes are the key.
        assert_eq!(
            decrypt("0123456789abcdef0123456789abcdef", &a).expect("same key"),
            "hunter2-clear"
        );
    }

    #[test]
    fn port_format_iv_ciphertext_tag() {
        // Encrypted as Port does, with the cipher directly: IV ‖ ciphertext ‖ tag, base64.
        let c = Cipher::new_from_slice(&SECRET.as_bytes()[..32]).expect("key");
        let iv = [7u8; 16];
        let sealed = c
            .encrypt(Nonce::<U16>::from_slice(&iv), b"s3cret".as_slice())
            .expect("encrypts");
        assert_eq!(sealed.len(), "s3cret".len() + TAG, "ciphertext then tag");
        let mut bytes = iv.to_vec();
        bytes.extend(&sealed);
        let value = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert_eq!(decrypt(SECRET, &value).expect("decrypts"), "s3cret");
        // Our own encryption has the same layout.
        let ours = base64::engine::general_purpose::STANDARD
            .decode(encrypt(SECRET, "s3cret").expect("encrypts"))
            .expect("base64");
        assert_eq!(ours.len(), IV + "s3cret".len() + TAG);
    }

    #[test]
    fn accepted_encrypted_or_in_clear_and_sealed_for_the_store() {
        let src = r#"workflow w "W" {
  form trigger "T" {
    input a: string "A" { encryption "aes256-gcm" }
    input b: string "B" { encryption "aes256-gcm" }
    input c?: number "C" { encryption "aes256-gcm" }
    input d?: string "D"
  }
  webhook w "W" { url "http://127.0.0.1/x" }
  flow { trigger -> w }
}"#;
        let checked = wflow_compiler::check_source(src, wflow_compiler::Syntax::Wflow);
        let wf = checked.module.workflows[0].clone();
        let plan =
            Plan::new(wf, src.into(), wflow_compiler::Syntax::Wflow, "w".into()).expect("plan");
        assert!(
            plan.secrets.contains(KEY_SECRET),
            "the key is a secret the run needs"
        );
        let Some(form) = trigger_form(&plan, "trigger") else {
            panic!("a form");
        };
        let secrets = Secrets::from_pairs([(KEY_SECRET.to_string(), SECRET.to_string())]);
        let mut given = serde_json::json!({
            "a": encrypt(SECRET, "clear-a-value").expect("encrypts"),
            "b": "clear-b-value",
            "c": 3,
            "d": "plain",
        });
        let Json::Object(map) = &mut given else {
            panic!("an object");
        };
        let problems = accept(form, map, &secrets);
        assert_eq!(map["a"], "clear-a-value");
        assert_eq!(map["b"], "clear-b-value");
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].pointer, "/c");
        assert_eq!(
            secrets.redact_str("x clear-a-value clear-b-value"),
            "x [REDACTED] [REDACTED]"
        );

        let mut payload = Json::Object(map.clone());
        let shown = seal(&plan, "trigger", &mut payload, &secrets);
        assert_eq!(shown["a"], REDACTED);
        assert_eq!(shown["d"], "plain");
        let stored = payload["a"].as_str().expect("a string");
        assert_eq!(decrypt(SECRET, stored).expect("decrypts"), "clear-a-value");
        // Sealing a stored payload again (a re-run) keeps it.
        let mut again = payload.clone();
        seal(&plan, "trigger", &mut again, &secrets);
        assert_eq!(again["a"], payload["a"]);
        let mut output = shown.clone();
        open(&plan, "trigger", &payload, &mut output, &secrets);
        assert_eq!(output["a"], "clear-a-value");
        assert_eq!(output["b"], "clear-b-value");
    }

    #[test]
    fn wrong_keys_and_damaged_values_are_refused_without_quoting() {
        let v = encrypt(SECRET, "top-secret-value").expect("encrypts");
        let wrong = decrypt("ffffffffffffffffffffffffffffffff", &v).expect_err("wrong key");
        assert!(wrong.contains("does not decrypt"), "{wrong}");
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&v)
            .expect("base64");
        bytes[20] ^= 1;
        let damaged = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert!(decrypt(SECRET, &damaged).is_err());
        assert!(
            decrypt("short", &v)
                .expect_err("short key")
                .contains("32 bytes")
        );
        assert!(!looks_encrypted("plain words"));
        assert!(
            !looks_encrypted("c2hvcnQ="),
            "too short for an IV and a tag"
        );
    }
}
