//! The checker's hash maps and sets: foldhash instead of SipHash, which cost a twentieth of
//! `wflow check` on node names and indices. Still seeded per process, so crafted names cannot
//! choose collisions.

pub(crate) type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;
pub(crate) type HashSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;
