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
//! [gitlab]                      # same keys as [github]
//! api_url = "https://gitlab.com/api/v4"
//!
//! [azure_devops]               # no default: your organisation
//! api_url = "https://dev.azure.com/ORG"
//!
//! [jira]                        # no default: your site
//! api_url = "https://ORG.atlassian.net"
//!
//! [ai]
//! base_url = "http://127.0.0.1:11434/v1"   # an OpenAI-compatible API
//! model = "llama3.1"
//! timeout_secs = 120
//! ```
//!
//! Environment variables win over the file: `WFLOW_WEBHOOK_TIMEOUT`, `WFLOW_KAFKA_BROKERS`,
//! `WFLOW_KAFKA_TOPIC`, `WFLOW_GITHUB_API_URL`, `WFLOW_GITHUB_POLL_INTERVAL_MS` (likewise
//! `WFLOW_GITLAB_*`, `WFLOW_AZURE_DEVOPS_*`, `WFLOW_JIRA_*`),
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

/// The REST API of a service integration actions call (GitHub, GitLab, Azure DevOps, Jira).
/// Their credentials are secrets (`GITHUB_TOKEN`, `GITLAB_TOKEN`, `AZURE_DEVOPS_TOKEN`,
/// `JIRA_EMAIL` and `JIRA_API_TOKEN`), never settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Base URL: `https://api.github.com` or a GitHub Enterprise Server's
    /// `https://HOST/api/v3`; `https://gitlab.com/api/v4`; `https://dev.azure.com/ORG`; a Jira
    /// site.
    pub api_url: String,
    /// How often a started pipeline or workflow run is polled while the node reports its status.
    pub poll_interval: Duration,
}

impl Service {
    /// A service at `api_url`, polled every 10 seconds.
    pub fn at(api_url: &str) -> Service {
        Service {
            api_url: api_url.into(),
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
    github: FileService,
    #[serde(default)]
    gitlab: FileService,
    #[serde(default)]
    azure_devops: FileService,
    #[serde(default)]
    jira: FileService,
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
struct FileService {
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
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Where they were read from, for messages (`None`: no file).
    pub file: Option<String>,
    pub webhook_timeout: Option<Duration>,
    pub kafka: Option<Kafka>,
    pub github: Service,
    pub gitlab: Service,
    /// `None`: no organisation is configured (its nodes are refused by the preflight).
    pub azure_devops: Option<Service>,
    /// `None`: no Jira site is configured (its nodes are refused by the preflight).
    pub jira: Option<Service>,
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
        let service = |section: &str, file: FileService| -> Result<Option<Service>, String> {
            let prefix = format!("WFLOW_{}_", section.to_ascii_uppercase());
            let poll_var = format!("{prefix}POLL_INTERVAL_MS");
            let Some(url) = var(&format!("{prefix}API_URL")).or(file.api_url) else {
                return Ok(None);
            };
            let mut s = Service::at(&base_url(&url, &format!("{section}.api_url"))?);
            let poll =
                match var(&poll_var) {
                    Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                        format!("{poll_var}=`{v}` is not a number of milliseconds")
                    })?),
                    None => file.poll_interval_ms,
                };
            if let Some(ms) = poll {
                s.poll_interval = Duration::from_millis(ms.max(1));
            }
            Ok(Some(s))
        };
        let with_default = |section: &str, file: FileService, default: &str| {
            let url = file.api_url.or_else(|| Some(default.to_string()));
            service(
                section,
                FileService {
                    api_url: url,
                    ..file
                },
            )
            .map(|s| s.unwrap_or_else(|| Service::at(default)))
        };
        let github = with_default("github", parsed.github, "https://api.github.com")?;
        let gitlab = with_default("gitlab", parsed.gitlab, "https://gitlab.com/api/v4")?;
        let azure_devops = service("azure_devops", parsed.azure_devops)?;
        let jira = service("jira", parsed.jira)?;
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
            gitlab,
            azure_devops,
            jira,
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
        let env = |k: &str| match k {
            "WFLOW_KAFKA_TOPIC" => Some("from-env".to_string()),
            "WFLOW_JIRA_API_URL" => Some("http://jira.test/".to_string()),
            "WFLOW_JIRA_POLL_INTERVAL_MS" => Some("7".to_string()),
            _ => None,
        };
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
        assert_eq!(s.gitlab.api_url, "https://gitlab.com/api/v4");
        assert_eq!(s.azure_devops, None);
        assert_eq!(
            s.jira,
            Some(Service {
                api_url: "http://jira.test".into(),
                poll_interval: Duration::from_millis(7)
            })
        );
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
        std::fs::write(d.join(FILE_NAME), "[jira]\napi_url = \"ftp://x\"\n").expect("write");
        let e = Settings::load(None, &d, &none).expect_err("bad url");
        assert!(e.contains("jira.api_url must be an http"), "{e}");
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
