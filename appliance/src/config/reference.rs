//! The configuration reference, `docs/operations/configuration.md`, made from the
//! configuration's own types: each setting's name, default and documentation (its doc
//! comment), section by section. A test checks that the committed page is what this makes,
//! so it cannot drift from what the relay reads.

use std::fmt::Write as _;

use serde_json::{Map, Value};

use super::Config;

/// The page, as Markdown.
pub fn markdown() -> String {
    let schema = serde_json::to_value(schemars::schema_for!(Config)).unwrap_or_default();
    let definitions = schema.get("$defs").and_then(Value::as_object).cloned().unwrap_or_default();
    let mut page = String::from(
        "# Configuration reference\n\n\
         Every setting of `<data>/caducee.toml`, with its default. Generated from the relay's own\n\
         definitions (`caducee generate config-reference`); `caducee config show --defaults` prints\n\
         the defaults as TOML, `caducee config show` the settings a relay runs with, and `caducee\n\
         config check` checks a file (docs/operations/running.md).\n",
    );
    let properties = schema.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
    let (sections, top): (Vec<_>, Vec<_>) =
        properties.iter().partition(|(_, property)| section(property, &definitions).is_some());
    table(&mut page, "Top level", None, top.into_iter());
    for (name, property) in sections {
        let Some(definition) = section(property, &definitions) else { continue };
        let about = definition.get("description").and_then(Value::as_str).map(one_line);
        let fields = definition.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
        let (nested, plain): (Vec<_>, Vec<_>) = fields.iter().partition(|(_, f)| section(f, &definitions).is_some());
        if !plain.is_empty() || nested.is_empty() {
            table(&mut page, &format!("[{name}]"), about.as_deref(), plain.into_iter());
        }
        for (inner, field) in nested {
            let Some(definition) = section(field, &definitions) else { continue };
            let about = definition.get("description").or_else(|| field.get("description"));
            let fields = definition.get("properties").and_then(Value::as_object).cloned().unwrap_or_default();
            let about = about.and_then(Value::as_str).map(one_line);
            table(&mut page, &format!("[{name}.{inner}]"), about.as_deref(), fields.iter());
        }
    }
    page
}

/// The definition a property refers to, when it is a section (a table of settings).
fn section<'a>(property: &Value, definitions: &'a Map<String, Value>) -> Option<&'a Map<String, Value>> {
    let reference = property
        .get("$ref")
        .or_else(|| property.get("anyOf").and_then(|any| any.get(0)).and_then(|first| first.get("$ref")))?;
    let name = reference.as_str()?.strip_prefix("#/$defs/")?;
    let definition = definitions.get(name)?.as_object()?;
    definition.contains_key("properties").then_some(definition)
}

fn table<'a>(
    page: &mut String,
    title: &str,
    about: Option<&str>,
    fields: impl Iterator<Item = (&'a String, &'a Value)>,
) {
    let _ = write!(page, "\n## {title}\n\n");
    if let Some(about) = about {
        let _ = write!(page, "{about}\n\n");
    }
    page.push_str("| Setting | Default | What |\n|---|---|---|\n");
    for (name, field) in fields {
        let default = match field.get("default") {
            None | Some(Value::Null) => "—".to_owned(),
            Some(value) => format!("`{}`", value.to_string().replace('|', "\\|")),
        };
        let what = field.get("description").and_then(Value::as_str).map(one_line).unwrap_or_default();
        let _ = writeln!(page, "| `{name}` | {default} | {} |", what.replace('|', "\\|"));
    }
}

/// A doc comment's paragraphs on one line (a table cell).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_reference_is_the_generated_one() {
        let committed = include_str!("../../../docs/operations/configuration.md");
        assert!(
            committed == super::markdown(),
            "docs/operations/configuration.md is not what the configuration says: \
             run `caducee generate config-reference > docs/operations/configuration.md`"
        );
    }
}
