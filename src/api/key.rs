//! Where an object lives: one type for every `namespace/name` key the operator uses (caches,
//! failure counts, the hub, recordings), written as `ns/name` and never parsed back.

use std::fmt;

use kube::api::ObjectMeta;

/// One RFC 1123 label's shape: lowercase letters, digits and '-', with neither end a '-'.
fn label_shape(label: &[u8]) -> bool {
    !label.is_empty()
        && label
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && label[0] != b'-'
        && label[label.len() - 1] != b'-'
}

/// An RFC 1123 label of at most 63 characters: how namespaces (and our rule names) are named.
pub fn is_dns_label(name: &str) -> bool {
    name.len() <= 63 && label_shape(name.as_bytes())
}

/// Kubernetes object names (RFC 1123 subdomains), as the API server enforces them: a name that
/// comes from outside (a file, a delivery) and is not one names no object.
pub fn is_object_name(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(|part| label_shape(part.as_bytes()))
}

/// An object's namespace and name.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// A key as people write one on a command line or in a recording: `namespace/name`, or a
    /// bare `name` in `namespace`.
    pub fn written(text: &str, namespace: &str) -> Self {
        match text.split_once('/') {
            Some((ns, name)) => Self::new(ns, name),
            None => Self::new(namespace, text),
        }
    }

    /// The key of the object `meta` describes.
    pub fn of(meta: &ObjectMeta) -> Self {
        Self::new(namespace_of(meta), meta.name.as_deref().unwrap_or(""))
    }
}

/// `namespace/name`, padded as asked (tables align on it).
impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&format!("{}/{}", self.namespace, self.name))
    }
}

/// Written as its text form (`"shop/web"`), as gate and CLI answers show it.
impl serde::Serialize for ObjectKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Every Kubernetes object has its key.
pub trait Keyed {
    fn key(&self) -> ObjectKey;
}

impl<K: kube::Resource> Keyed for K {
    fn key(&self) -> ObjectKey {
        ObjectKey::of(self.meta())
    }
}

/// An object's namespace: one read from a file without any is in `default`, as kubectl
/// would put it.
pub fn namespace_of(meta: &ObjectMeta) -> &str {
    namespace_or_default(meta.namespace.as_deref())
}

/// The namespace an object without one is in.
pub fn namespace_or_default(namespace: Option<&str>) -> &str {
    namespace.unwrap_or("default")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reads_as_namespace_slash_name() {
        let meta = ObjectMeta {
            name: Some("web".into()),
            ..ObjectMeta::default()
        };
        let key = ObjectKey::of(&meta);
        assert_eq!(key, ObjectKey::new("default", "web"));
        assert_eq!(format!("[{key:<12}]"), "[default/web ]");
        assert_eq!(serde_json::to_value(&key).unwrap(), "default/web");
    }
}
