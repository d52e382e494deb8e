//! Where the outside services are: `wflow.toml` and the environment variables that override it.
//!
//! ```toml
//! [webhook]
//! timeout_secs = 30
//!
//! [kafka]
//! brokers = "127.0.0.1:9092"   # bootstrap servers, comma-separated
//! topic = "wflow.runs"
//!
//! [github]
//! api_url = "https://api.github.com"
//! poll_interval_ms = 10000
//!
//! [ai]
//! base_url = "http://127.0.0.1:11434/v1"   # an OpenAI-compatible API
//! model = "llama3.1"
//! timeout_secs = 120
//! ```
//!
//! Environment variables win over the file: `WFLOW_WEBHOOK_TIMEOUT`, `WFLOW_KAFKA_BROKERS`,
//! `WFLOW_KAFKA_TOPIC`, `WFLOW_GITHUB_API_URL`, `WFLOW_GITHUB_POLL_INTERVAL_MS`,
//! `WFLOW_AI_BASE_URL`, `WFLOW_AI_MODEL`, `WFLOW_AI_TIMEOUT`.

use std::path::Path;
use std::time::Duration;

use serde::Deserialize;

/// The name of the configuration file looked for in the current directory.
pub const FILE_NAME: &str = "wflow.toml";

/// Where KAFKA nodes publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kafka {
    /// Bootstrap servers, `host:port[,host:port...]`.
    pub brokers: String,
    pub topic: String,
}

/// The GitHub REST API used by GitHub integration actions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHub {
    /// Base URL, `https://api.github.com` or a GitHub Enterprise Server's `https://HOST/api/v3`.
    pub api_url: String,
    /// How often a dispatched workflow run is polled while the node reports its status.
    pub poll_interval: Duration,
}

impl Default for GitHub {
    fn default() -> GitHub {
        GitHub {
            api_url: "https://api.github.com".into(),
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// The OpenAI-compatible chat completions API used by AI and AI_AGENT nodes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ai {
    /// Base URL; requests go to `{base_url}/chat/completions`.
    pub base_url: String,
    /// The model used when the node names none.
    pub model: Option<String>,
    /// How long one completion may take.
    pub timeout: Duration,
}

/// The file's shape.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    webhook: FileWebhook,
    #[serde(default)]
    kafka: FileKafka,
    #[serde(default)]
    github: FileGitHub,
    #[serde(default)]
    ai: FileAi,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWebhook {
    timeout_secs: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileKafka {
    brokers: Option<String>,
    topic: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileGitHub {
    api_url: Option<String>,
    poll_interval_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileAi {
    base_url: Option<String>,
    model: Option<String>,
    timeout_secs: Option<f64>,
}

/// The settings of the outside services, from the file and the environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Settings {
    /// Where they were read from, for messages (`None`: no file).
    pub file: Option<String>,
    pub webhook_timeout: Option<Duration>,
    pub kafka: Option<Kafka>,
    pub github: GitHub,
    pub ai: Option<Ai>,
}

impl Settings {
    /// Reads `file` (or `wflow.toml` in `dir` when it exists, or nothing), then applies the
    /// environment as given by `env`. Errors name the file or variable and what is wrong.
    pub fn load(
        file: Option<&Path>,
        dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Settings, String> {
        let path = match file {
            Some(p) => Some(p.to_path_buf()),
            None => Some(dir.join(FILE_NAME)).filter(|p| p.is_file()),
        };
        let (parsed, shown) = match &path {
            Some(p) => {
                let shown = p.display().to_string();
                let text = std::fs::read_to_string(p)
                    .map_err(|e| format!("cannot read the configuration {shown}: {e}"))?;
                let parsed: File = toml::from_str(&text).map_err(|e| {
                    format!(
                        "{shown} is not a valid wflow configuration: {}",
                        e.to_string().trim_end()
                    )
                })?;
                (parsed, Some(shown))
            }
            None => (File::default(), None),
        };
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let seconds = |name: &str, file: Option<f64>, what: &str| -> Result<_, String> {
            let v = match var(name) {
                Some(s) => Some(
                    s.trim()
                        .parse::<f64>()
                        .map_err(|_| format!("{name}=`{s}` is not a number of seconds"))?,
                ),
                None => file,
            };
            match v {
                Some(s) if s > 0.0 && s.is_finite() => Ok(Some(Duration::from_secs_f64(s))),
                Some(s) => Err(format!(
                    "{what} must be a positive number of seconds, not {s} (in {name} or the \
                     configuration file)"
                )),
                None => Ok(None),
            }
        };
        let webhook_timeout = seconds(
            "WFLOW_WEBHOOK_TIMEOUT",
            parsed.webhook.timeout_secs,
            "webhook.timeout_secs",
        )?;
        let brokers = var("WFLOW_KAFKA_BROKERS").or(parsed.kafka.brokers);
        let topic = var("WFLOW_KAFKA_TOPIC").or(parsed.kafka.topic);
        let kafka = match (brokers, topic) {
            (Some(brokers), Some(topic)) => Some(Kafka { brokers, topic }),
            (None, None) => None,
            (Some(_), None) => {
                return Err("kafka.brokers is set but kafka.topic is not; set both (or \
                     WFLOW_KAFKA_TOPIC)"
                    .into());
            }
            (None, Some(_)) => {
                return Err("kafka.topic is set but kafka.brokers is not; set both (or \
                     WFLOW_KAFKA_BROKERS)"
                    .into());
            }
        };
        let mut github = GitHub::default();
        if let Some(u) = var("WFLOW_GITHUB_API_URL").or(parsed.github.api_url) {
            github.api_url = base_url(&u, "github.api_url")?;
        }
        let poll = match var("WFLOW_GITHUB_POLL_INTERVAL_MS") {
            Some(s) => Some(s.trim().parse::<u64>().map_err(|_| {
                format!("WFLOW_GITHUB_POLL_INTERVAL_MS=`{s}` is not a number of milliseconds")
            })?),
            None => parsed.github.poll_interval_ms,
        };
        if let Some(ms) = poll {
            github.poll_interval = Duration::from_millis(ms.max(1));
        }
        let ai_timeout = seconds(
            "WFLOW_AI_TIMEOUT",
            parsed.ai.timeout_secs,
            "ai.timeout_secs",
        )?;
        let ai = match var("WFLOW_AI_BASE_URL").or(parsed.ai.base_url) {
            Some(u) => Some(Ai {
                base_url: base_url(&u, "ai.base_url")?,
                model: var("WFLOW_AI_MODEL").or(parsed.ai.model),
                timeout: ai_timeout.unwrap_or(Duration::from_secs(120)),
            }),
            None => None,
        };
        Ok(Settings {
            file: shown,
            webhook_timeout,
            kafka,
            github,
            ai,
        })
    }
}

/// `url` without a trailing `/`, when it is an http(s) URL.
fn base_url(url: &str, what: &str) -> Result<String, String> {
    let u = url.trim().trim_end_matches('/');
    if u.starts_with("http://") || u.starts_with("https://") {
        Ok(u.to_string())
    } else {
        Err(format!(
            "{what} must be an http:// or https:// URL, not `{url}`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir() -> std::path::PathBuf {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let d = std::env::temp_dir().join(format!("wflow-settings-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&d).expect("dir");
        d
    }

    #[test]
    fn file_then_environment() {
        let d = dir();
        std::fs::write(
            d.join(FILE_NAME),
            "[kafka]\nbrokers = \"b:1\"\ntopic = \"t\"\n[github]\npoll_interval_ms = 5\n\
             [ai]\nbase_url = \"http://ai/v1/\"\nmodel = \"m\"\n",
        )
        .expect("write");
        let env = |k: &str| (k == "WFLOW_KAFKA_TOPIC").then(|| "from-env".to_string());
        let s = Settings::load(None, &d, &env).expect("settings");
        assert_eq!(
            s.kafka,
            Some(Kafka {
                brokers: "b:1".into(),
                topic: "from-env".into()
            })
        );
        assert_eq!(s.github.poll_interval, Duration::from_millis(5));
        assert_eq!(s.github.api_url, "https://api.github.com");
        let ai = s.ai.expect("ai");
        assert_eq!(
            (ai.base_url.as_str(), ai.model.as_deref()),
            ("http://ai/v1", Some("m"))
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn mistakes_are_named() {
        let d = dir();
        let none = |_: &str| None;
        std::fs::write(d.join(FILE_NAME), "[kafka]\nbroker = \"x\"\n").expect("write");
        let e = Settings::load(None, &d, &none).expect_err("unknown key");
        assert!(e.contains("unknown field `broker`"), "{e}");
        std::fs::write(d.join(FILE_NAME), "[kafka]\nbrokers = \"x\"\n").expect("write");
        let e = Settings::load(None, &d, &none).expect_err("no topic");
        assert!(e.contains("kafka.topic is not"), "{e}");
        let env = |k: &str| (k == "WFLOW_AI_BASE_URL").then(|| "ftp://x".to_string());
        std::fs::remove_file(d.join(FILE_NAME)).expect("rm");
        let e = Settings::load(None, &d, &env).expect_err("bad url");
        assert!(e.contains("ai.base_url must be an http"), "{e}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
