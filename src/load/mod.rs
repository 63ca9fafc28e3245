//! Reads manifests (multi-document YAML or JSON, files or directories) into typed objects.
//! Every error names the file, the document, the object and the field.

pub mod crd_rules;
pub mod recording;
pub mod schema;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::api::{
    API_VERSION, Approval, Connector, GatePolicy, Notifier, ObjectKey, Release, ReleasePassport,
    Waiver,
};
use crate::engine::{self, CompiledPolicy, EvidenceItem};
use recording::EvidenceRecording;

/// Why an input could not be used. Displays as `file: document N (Kind/name): field: message`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct LoadError {
    pub file: String,
    /// 1-based document index within the file, when the error is about one document.
    pub document: Option<usize>,
    /// `Kind/name` when known.
    pub object: Option<String>,
    pub field: Option<String>,
    pub message: String,
}

impl LoadError {
    fn render(&self) -> String {
        let mut s = self.file.clone();
        if let Some(d) = self.document {
            s.push_str(&format!(": document {d}"));
        }
        if let Some(o) = &self.object {
            s.push_str(&format!(" ({o})"));
        }
        if let Some(f) = &self.field {
            s.push_str(&format!(": {f}"));
        }
        s.push_str(&format!(": {}", self.message));
        s
    }
}

/// Everything read from the inputs.
#[derive(Clone, Debug, Default)]
pub struct Bundle {
    pub releases: Vec<Release>,
    pub policies: Vec<GatePolicy>,
    pub approvals: Vec<Approval>,
    pub waivers: Vec<Waiver>,
    pub connectors: Vec<Connector>,
    pub notifiers: Vec<Notifier>,
    pub passports: Vec<ReleasePassport>,
    /// Evidence per release key (`namespace/name`).
    pub evidence: BTreeMap<ObjectKey, Vec<EvidenceItem>>,
    /// The latest `recordedAt` of any evidence recording read.
    pub recorded_at: Option<DateTime<Utc>>,
    /// When releases started, as recordings say (`startedAt`).
    pub started: BTreeMap<ObjectKey, DateTime<Utc>>,
    /// What a lenient reading let through (unknown fields), for the command to print.
    pub warnings: Vec<LoadError>,
    /// The file each object was read from (`Kind namespace/name`): the same object twice is
    /// refused naming both files, as `kubectl apply` would silently keep the last.
    pub origins: BTreeMap<String, String>,
}

impl Bundle {
    /// `release` with the start a recording gives it, unless it says its own.
    pub fn with_recorded_start(&self, release: &Release) -> Release {
        let mut release = release.clone();
        if let Some(at) = self.started.get(&crate::api::Keyed::key(&release))
            && release.spec.started_at.is_none()
        {
            release
                .status
                .get_or_insert_with(Default::default)
                .started_at = Some(*at);
        }
        release
    }

    /// The Connectors as a recording shows them: a recording is what the connectors answered
    /// at `recordedAt`, so each connector it names read successfully then (unless the
    /// Connector carries a status of its own). Those it never names keep no status: not checked.
    pub fn connectors_as_recorded(&self) -> Vec<crate::api::Connector> {
        let Some(at) = self.recorded_at else {
            return self.connectors.clone();
        };
        let answered: std::collections::BTreeSet<(&str, &str)> = self
            .evidence
            .iter()
            .flat_map(|(release, items)| {
                items
                    .iter()
                    .filter_map(|e| Some((release.namespace.as_str(), e.connector.as_deref()?)))
            })
            .collect();
        self.connectors
            .iter()
            .map(|c| {
                let mut c = c.clone();
                let key = (
                    crate::api::namespace_of(&c.metadata),
                    c.metadata.name.as_deref().unwrap_or(""),
                );
                if c.status.is_none() && answered.contains(&key) {
                    c.status = Some(crate::api::connector::ConnectorStatus {
                        health: Some(crate::api::ConnectorHealth::Healthy),
                        last_success_at: Some(at),
                        ..Default::default()
                    });
                }
                c
            })
            .collect()
    }

    /// Policies compiled for the engine.
    pub fn compiled_policies(&self) -> Vec<std::sync::Arc<CompiledPolicy>> {
        self.policies
            .iter()
            .map(|p| std::sync::Arc::new(engine::compile(p)))
            .collect()
    }
}

/// How strictly a file is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Found {
    /// Named on the command line: every document must be one of ours.
    Named,
    /// Found by walking a directory (a GitOps repository, say): objects of other API groups
    /// (Deployments, Jobs, ConfigMaps…) are passed over, with a note on stderr.
    InDirectory,
}

/// What an undeclared field does: refuses the file, as the API server does under kubectl's
/// default strict field validation, or is kept as a warning (`--lenient`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Fields {
    #[default]
    Strict,
    Lenient,
}

/// The files a path stands for: itself, or every `.yaml`/`.yml`/`.json` below it, sorted.
/// A file reached twice — named twice, or through a symbolic link — is read once; a folder is
/// walked once, so a link to a folder above it (`ln -s . d/a`) ends the walk there.
pub fn expand_paths(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Found)>, LoadError> {
    let mut out = Vec::new();
    let mut walked = std::collections::HashSet::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| io_error(path, &e))?;
        if meta.is_dir() {
            let mut files = Vec::new();
            collect_dir(path, &mut files, &mut walked)?;
            out.extend(files.into_iter().map(|f| (f, Found::InDirectory)));
        } else {
            out.push((path.clone(), Found::Named));
        }
    }
    let mut read = std::collections::HashSet::new();
    out.retain(|(p, _)| read.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(out)
}

fn collect_dir(
    dir: &Path,
    out: &mut Vec<PathBuf>,
    walked: &mut std::collections::HashSet<PathBuf>,
) -> Result<(), LoadError> {
    let real = std::fs::canonicalize(dir).map_err(|e| io_error(dir, &e))?;
    if !walked.insert(real) {
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| io_error(dir, &e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        // Test fixtures (Argo CD's health-check layout, say) live beside manifests but are not
        // manifests: a directory walk passes over them; naming such a file explicitly still reads it.
        if name == "testdata" || name.ends_with("_test.yaml") || name.starts_with('.') {
            continue;
        }
        if p.is_dir() {
            collect_dir(&p, out, walked)?;
        } else if matches!(
            p.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(p);
        }
    }
    Ok(())
}

/// The largest input file read: the shop's whole recorded history is under 200 KiB.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// The YAML parser refuses nesting past 128 levels, but only after work that grows with the
/// square of the depth (100,000 open brackets took 50 s): deeper flow nesting is refused first.
pub const MAX_NESTING: usize = 256;

fn too_large(file: &str, size: u64) -> LoadError {
    LoadError {
        file: file.to_string(),
        document: None,
        object: None,
        field: None,
        message: format!("{size} bytes; inputs are read up to {MAX_FILE_BYTES} bytes"),
    }
}

/// The line where flow brackets first nest past [`MAX_NESTING`]. Brackets inside strings and
/// comments count too: text that opens 256 of them without closing any is no manifest either.
fn nested_too_deep(text: &str) -> Option<usize> {
    let mut depth = 0usize;
    let mut line = 1;
    for b in text.bytes() {
        match b {
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(line);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => line += 1,
            _ => {}
        }
    }
    None
}

fn io_error(path: &Path, e: &std::io::Error) -> LoadError {
    LoadError {
        file: path.display().to_string(),
        document: None,
        object: None,
        field: None,
        message: e.to_string(),
    }
}

/// Reads every path into `bundle`; objects without a namespace get `default_namespace`.
pub fn load_paths(
    paths: &[PathBuf],
    default_namespace: &str,
    fields: Fields,
    bundle: &mut Bundle,
) -> Result<(), LoadError> {
    for (file, found) in expand_paths(paths)? {
        let size = std::fs::metadata(&file)
            .map_err(|e| io_error(&file, &e))?
            .len();
        if size > MAX_FILE_BYTES as u64 {
            return Err(too_large(&file.display().to_string(), size));
        }
        let text = std::fs::read_to_string(&file).map_err(|e| io_error(&file, &e))?;
        read_str(
            &file.display().to_string(),
            &text,
            Reading {
                default_namespace,
                found,
                fields,
            },
            bundle,
        )?;
    }
    Ok(())
}

/// Reads one file's text (named `file` in errors) into `bundle`, strictly.
pub fn load_str(
    file: &str,
    text: &str,
    default_namespace: &str,
    bundle: &mut Bundle,
) -> Result<(), LoadError> {
    let reading = Reading {
        default_namespace,
        found: Found::Named,
        fields: Fields::Strict,
    };
    read_str(file, text, reading, bundle)
}

/// How one file is read.
#[derive(Clone, Copy)]
struct Reading<'a> {
    default_namespace: &'a str,
    found: Found,
    fields: Fields,
}

fn read_str(
    file: &str,
    text: &str,
    reading: Reading<'_>,
    bundle: &mut Bundle,
) -> Result<(), LoadError> {
    let Reading {
        default_namespace,
        found,
        fields,
    } = reading;
    if text.len() > MAX_FILE_BYTES {
        return Err(too_large(file, text.len() as u64));
    }
    if let Some(line) = nested_too_deep(text) {
        return Err(LoadError {
            file: file.to_string(),
            document: None,
            object: None,
            field: None,
            message: format!(
                "nested deeper than {MAX_NESTING} brackets at line {line}; no manifest needs that"
            ),
        });
    }
    for (index, doc) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let at = At {
            file,
            document: index + 1,
        };
        let err = |object, field, message| at.error(object, field, message);
        let yaml: serde_yaml_ng::Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| err(None, None, format!("malformed YAML: {e}")))?;
        if yaml.is_null() {
            continue;
        }
        let mut value: Value = serde_json::to_value(&yaml)
            .map_err(|e| err(None, None, format!("not a JSON-compatible document: {e}")))?;
        let Some(kind) = value
            .get("kind")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return Err(err(None, Some("kind".into()), "required".into()));
        };
        if kind == "List" {
            return Err(err(
                None,
                Some("kind".into()),
                "List documents are not read; write one object per document".into(),
            ));
        }
        let name = value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .map(str::to_string);
        let label = Some(match &name {
            Some(n) => format!("{kind}/{n}"),
            None => kind.clone(),
        });
        if kind == "EvidenceRecording" {
            let recording: EvidenceRecording =
                typed(&value).map_err(|(f, m)| err(label.clone(), f, m))?;
            merge_recording(recording, default_namespace, bundle);
            continue;
        }
        match value.get("apiVersion").and_then(Value::as_str) {
            Some(API_VERSION) => {}
            Some(other)
                if found == Found::InDirectory && !other.starts_with("releasepassport.io/") =>
            {
                eprintln!(
                    "note: {file}: document {} ({}) is not a Release Passport object; passed over",
                    index + 1,
                    label.as_deref().unwrap_or(&kind)
                );
                continue;
            }
            Some(other) => {
                return Err(err(
                    label,
                    Some("apiVersion".into()),
                    format!("{other:?} is not served here (expected {API_VERSION})"),
                ));
            }
            None => return Err(err(label, Some("apiVersion".into()), "required".into())),
        }
        check_name(name.as_deref(), &label, at)?;
        if value.pointer("/metadata/namespace").is_none()
            && let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut)
        {
            meta.insert(
                "namespace".into(),
                Value::String(default_namespace.to_string()),
            );
        }
        for field in schema::unknown_fields(&kind, &value) {
            let unknown = err(label.clone(), Some(field), "unknown field".into());
            match fields {
                Fields::Strict => return Err(unknown),
                Fields::Lenient => bundle.warnings.push(unknown),
            }
        }
        let namespace = value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let identity = format!("{kind} {namespace}/{}", name.as_deref().unwrap_or_default());
        if let Some(first) = bundle.origins.get(&identity) {
            return Err(err(
                label,
                Some("metadata.name".into()),
                format!("{identity} is defined twice: here and in {first}"),
            ));
        }
        bundle.origins.insert(identity, file.to_string());
        // The structure first: CEL rules run only on what the server would let reach them.
        let refused = match schema::structural(&kind, &value).into_iter().next() {
            Some(v) => Some(v),
            None => crd_rules::validate(&kind, &value).into_iter().next(),
        };
        if let Some(v) = refused {
            return Err(err(label, Some(v.field), v.message));
        }
        add(&kind, &value, label, at, bundle)?;
    }
    Ok(())
}

/// Where a document is, for its errors.
#[derive(Clone, Copy)]
struct At<'a> {
    file: &'a str,
    /// 1-based.
    document: usize,
}

impl At<'_> {
    fn error(self, object: Option<String>, field: Option<String>, message: String) -> LoadError {
        LoadError {
            file: self.file.to_string(),
            document: Some(self.document),
            object,
            field,
            message,
        }
    }
}

/// An object's name as the API server would take it.
fn check_name(name: Option<&str>, label: &Option<String>, at: At<'_>) -> Result<(), LoadError> {
    let field = Some("metadata.name".to_string());
    match name {
        None | Some("") => Err(at.error(label.clone(), field, "required".into())),
        Some(n) if !crate::api::key::is_object_name(n) => Err(at.error(
            label.clone(),
            field,
            "must be lowercase letters, digits, '-' and '.', start and end with a letter or digit, at most 253 characters".into(),
        )),
        Some(_) => Ok(()),
    }
}

/// The document, valid against its schema, typed into the bundle (a policy compiled first).
fn add(
    kind: &str,
    value: &Value,
    label: Option<String>,
    at: At<'_>,
    bundle: &mut Bundle,
) -> Result<(), LoadError> {
    let fail = |(f, m): (Option<String>, String)| at.error(label.clone(), f, m);
    match kind {
        "Release" => bundle.releases.push(typed(value).map_err(fail)?),
        "GatePolicy" => {
            let policy: GatePolicy = typed(value).map_err(fail)?;
            let compiled = engine::compile(&policy);
            if let Some(e) = compiled.errors.first() {
                return Err(at.error(label, Some(e.field.clone()), e.message.clone()));
            }
            bundle.policies.push(policy);
        }
        "Approval" => bundle.approvals.push(typed(value).map_err(fail)?),
        "Waiver" => bundle.waivers.push(typed(value).map_err(fail)?),
        "Connector" => bundle.connectors.push(typed(value).map_err(fail)?),
        "Notifier" => bundle.notifiers.push(typed(value).map_err(fail)?),
        "ReleasePassport" => bundle.passports.push(typed(value).map_err(fail)?),
        other => {
            return Err(at.error(
                label,
                Some("kind".into()),
                format!(
                    "unknown kind {other:?} (expected Release, GatePolicy, Approval, Waiver, Connector, Notifier, ReleasePassport or EvidenceRecording)"
                ),
            ));
        }
    }
    Ok(())
}

/// Deserialises with the path of the offending field.
fn typed<T: DeserializeOwned>(value: &Value) -> Result<T, (Option<String>, String)> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = (path != ".").then_some(path);
        (field, e.into_inner().to_string())
    })
}

fn merge_recording(recording: EvidenceRecording, default_namespace: &str, bundle: &mut Bundle) {
    if let Some(at) = recording.recorded_at {
        bundle.recorded_at = Some(bundle.recorded_at.map_or(at, |b| b.max(at)));
    }
    // A recording names releases as `namespace/name`, or `name` in the default namespace.
    let key_of = |written: &str| ObjectKey::written(written, default_namespace);
    for (written, at) in &recording.started_at {
        bundle.started.insert(key_of(written), *at);
    }
    for (written, items) in recording.releases {
        let key = key_of(&written);
        // A recording may carry what an upstream wrote: scrubbed as it enters, like live evidence.
        let items = items.into_iter().map(|mut item| {
            item.summary = item.summary.map(|s| crate::scrub::scrub(&s, &[]));
            item
        });
        bundle.evidence.entry(key).or_default().extend(items);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Bundle, LoadError> {
        let mut b = Bundle::default();
        load_str("t.yaml", text, "default", &mut b).map(|()| b)
    }

    #[test]
    fn names_file_document_object_and_field() {
        let text = "---\napiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {name: a}\nspec: {service: s, version: '1', environment: e}\n---\napiVersion: releasepassport.io/v1alpha1\nkind: GatePolicy\nmetadata: {name: p}\nspec:\n  rules:\n  - name: fresh\n    evidence: {source: x, maxAge: 15x}\n";
        let e = load(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.starts_with("t.yaml: document 2 (GatePolicy/p): spec.rules[0].evidence.maxAge"),
            "{e}"
        );
    }

    #[test]
    fn missing_field_is_named() {
        let text = "apiVersion: releasepassport.io/v1alpha1\nkind: Release\nmetadata: {name: a}\nspec: {service: s, environment: e}\n";
        let e = load(text).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains("(Release/a): spec.version: Required value"),
            "{e}"
        );
    }
}
