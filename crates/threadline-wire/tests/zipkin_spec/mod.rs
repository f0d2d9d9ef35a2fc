//! Zipkin's own `ListOfSpans` schema, from `zipkin/zipkin2-api.yaml` in the project's shared
//! specs, for threadline-wire's schema test and threadline-export's quickstart test (which
//! includes this file by path).
//!
//! The OpenAPI 2.0 `definitions` are JSON Schema draft 4 plus a few annotations; the `$ref`s
//! between them are inlined here into one standalone schema.

use std::path::{Path, PathBuf};

use serde_json::{json, Value as Json};

/// The shared specs: `THREADLINE_SHARED_SPECS` when set, else `<repo>/../shared/specs`.
pub fn specs_dir() -> PathBuf {
    std::env::var_os("THREADLINE_SHARED_SPECS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/specs"))
}

/// `#/definitions/ListOfSpans` with every `$ref` inlined, as a draft 4 schema.
pub fn list_of_spans_schema() -> Json {
    let path = specs_dir().join("zipkin/zipkin2-api.yaml");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read the Zipkin API spec at {}: {e}", path.display()));
    let api: serde_yaml::Value = serde_yaml::from_str(&text).expect("zipkin2-api.yaml parses");
    let definitions: Json =
        serde_json::to_value(&api["definitions"]).expect("definitions are JSON");
    let definitions = definitions.as_object().expect("definitions is a map");
    fn inline(node: &Json, definitions: &serde_json::Map<String, Json>) -> Json {
        match node {
            Json::Object(map) => match map.get("$ref").and_then(Json::as_str) {
                Some(reference) => {
                    let name = reference
                        .strip_prefix("#/definitions/")
                        .unwrap_or_else(|| panic!("unexpected reference {reference}"));
                    inline(&definitions[name], definitions)
                }
                None => Json::Object(
                    map.iter()
                        .filter(|(key, _)| *key != "example")
                        .map(|(key, value)| (key.clone(), inline(value, definitions)))
                        .collect(),
                ),
            },
            Json::Array(items) => {
                Json::Array(items.iter().map(|v| inline(v, definitions)).collect())
            }
            other => other.clone(),
        }
    }
    let mut schema = inline(&definitions["ListOfSpans"], definitions);
    schema["$schema"] = json!("http://json-schema.org/draft-04/schema#");
    assert!(
        !schema.to_string().contains("$ref"),
        "every reference is inlined"
    );
    schema
}

/// [`list_of_spans_schema`] compiled into a draft 4 validator that checks formats too.
pub fn list_of_spans_validator() -> jsonschema::Validator {
    jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&list_of_spans_schema())
        .expect("the zipkin schema compiles")
}
