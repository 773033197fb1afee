//! API key grammar: the legacy `alter_key_…` form and the scoped
//! `alter_<type>_<random>_<checksum>` form with its CRC-32 checksum.
//!
//! The check is exact (case-sensitive, no trimming) so that a key which the
//! backend would refuse is refused here first, before any network call.

/// Lower-case RFC 4648 base32 alphabet used by the scoped key form.
const BASE32: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz234567";

/// The kinds of key the grammar distinguishes. The SDK never enforces a kind
/// (the backend decides what a key may do); this is informational.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// `alter_key_<40>`: pre-scoping app keys and per-agent keys.
    Legacy,
    /// `alter_rk_…`: runtime (application) key.
    Runtime,
    /// `alter_ak_…`: agent-typed key.
    Agent,
    /// `alter_dk_…`: derived key.
    Derived,
    /// `alter_pk_…`: publishable key.
    Publishable,
}

impl KeyKind {
    /// The two-letter type tag of the scoped form (`None` for legacy keys).
    pub fn tag(self) -> Option<&'static str> {
        match self {
            KeyKind::Legacy => None,
            KeyKind::Runtime => Some("rk"),
            KeyKind::Agent => Some("ak"),
            KeyKind::Derived => Some("dk"),
            KeyKind::Publishable => Some("pk"),
        }
    }

    fn from_tag(tag: &str) -> Option<KeyKind> {
        match tag {
            "rk" => Some(KeyKind::Runtime),
            "ak" => Some(KeyKind::Agent),
            "dk" => Some(KeyKind::Derived),
            "pk" => Some(KeyKind::Publishable),
            _ => None,
        }
    }
}

/// Six base32 characters from the low 30 bits of CRC-32(`"<type>:<random>"`),
/// least-significant group first.
pub fn checksum(type_tag: &str, random: &str) -> String {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(type_tag.as_bytes());
    hasher.update(b":");
    hasher.update(random.as_bytes());
    let crc = hasher.finalize();
    (0..6)
        .map(|i| BASE32[((crc >> (5 * i)) & 0x1f) as usize] as char)
        .collect()
}

fn is_base32(s: &str) -> bool {
    s.bytes().all(|b| BASE32.contains(&b))
}

/// Classifies a key, or returns `None` when it fails the grammar.
pub fn key_kind(key: &str) -> Option<KeyKind> {
    if let Some(body) = key.strip_prefix("alter_key_") {
        let ok = body.len() == 40
            && body
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        return ok.then_some(KeyKind::Legacy);
    }
    let parts: Vec<&str> = key.split('_').collect();
    if parts.len() != 4 || parts[0] != "alter" {
        return None;
    }
    let kind = KeyKind::from_tag(parts[1])?;
    let (random, sum) = (parts[2], parts[3]);
    if random.len() != 22 || !is_base32(random) || sum.len() != 6 || !is_base32(sum) {
        return None;
    }
    (checksum(parts[1], random) == sum).then_some(kind)
}

/// True when `key` passes the key grammar. Never panics.
pub fn is_valid_key(key: &str) -> bool {
    key_kind(key).is_some()
}

/// Generates a fresh scoped key of the given kind (the local vault mints
/// keys with this; the SDK itself never generates keys).
pub fn generate_key(kind: KeyKind) -> String {
    use rand::Rng;
    let mut rng = rand::thread_rng();
    match kind.tag() {
        None => {
            const LEGACY: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";
            let body: String = (0..40)
                .map(|_| LEGACY[rng.gen_range(0..LEGACY.len())] as char)
                .collect();
            format!("alter_key_{body}")
        }
        Some(tag) => {
            let random: String = (0..22)
                .map(|_| BASE32[rng.gen_range(0..32)] as char)
                .collect();
            let sum = checksum(tag, &random);
            format!("alter_{tag}_{random}_{sum}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_example_from_the_spec() {
        assert_eq!(checksum("rk", "pycdybk377oxtzq6svizx3"), "a5u5gr");
        assert_eq!(checksum("ak", "pycdybk377oxtzq6svizx3"), "5uqizh");
        assert_eq!(checksum("dk", "pycdybk377oxtzq6svizx3"), "idgf2i");
        assert_eq!(checksum("pk", "pycdybk377oxtzq6svizx3"), "5p5raz");
    }

    #[test]
    fn generated_keys_are_valid_and_of_their_kind() {
        for kind in [
            KeyKind::Legacy,
            KeyKind::Runtime,
            KeyKind::Agent,
            KeyKind::Derived,
            KeyKind::Publishable,
        ] {
            let k = generate_key(kind);
            assert_eq!(key_kind(&k), Some(kind), "{kind:?}");
        }
    }
}
