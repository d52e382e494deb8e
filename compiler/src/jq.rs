//! jq checks (being written).
