//! cron checks (being written).
