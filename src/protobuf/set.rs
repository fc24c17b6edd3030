//! Layered schemas: a server binary's own first, the bundled ones as the
//! fallback, looked up method by method.

use std::ops::Range;

use super::{raw, Decoded, Forms, MethodInfo, SchemaSource, Schemas};

/// Schemas tried in order for each method: the first layer that knows the
/// method and whose message type fits the bytes decodes them. Cheap to
/// clone (each layer is reference-counted).
#[derive(Clone, Debug)]
pub struct SchemaSet {
    layers: Vec<Schemas>,
}

impl SchemaSet {
    /// `binary`'s schemas first, then `bundled`'s.
    pub fn layered(binary: Schemas, bundled: &Schemas) -> SchemaSet {
        SchemaSet {
            layers: vec![binary, bundled.clone()],
        }
    }

    /// Only `schemas`.
    pub fn single(schemas: Schemas) -> SchemaSet {
        SchemaSet {
            layers: vec![schemas],
        }
    }

    /// `layers`, tried in this order (normally ending with the bundled ones).
    pub fn new(layers: Vec<Schemas>) -> SchemaSet {
        SchemaSet { layers }
    }

    /// The layers, first tried first.
    pub fn layers(&self) -> &[Schemas] {
        &self.layers
    }

    /// The method at `path` and where its schema comes from, from the first
    /// layer that defines it.
    pub fn method(&self, path: &str) -> Option<(MethodInfo, SchemaSource)> {
        self.layers
            .iter()
            .find_map(|s| Some((s.method(path)?, s.source(path)?)))
    }

    /// As [`Schemas::decode`]: both forms, the first layer that decodes
    /// the payload typed winning.
    pub fn decode(&self, path: Option<&str>, is_request: bool, payload: &[u8]) -> Decoded {
        self.decode_forms(path, is_request, payload, Forms::BOTH)
    }

    /// As [`Schemas::decode_forms`], the first layer that decodes the
    /// payload typed winning; schema-less when none does.
    pub fn decode_forms(
        &self,
        path: Option<&str>,
        is_request: bool,
        payload: &[u8],
        forms: Forms,
    ) -> Decoded {
        self.layers
            .iter()
            .find_map(|s| s.typed(path, is_request, payload, forms))
            .unwrap_or_else(|| raw::decode(payload, forms))
    }

    /// As [`Schemas::decode_as`], layer by layer.
    pub fn decode_as(&self, type_name: &str, payload: &[u8], forms: Forms) -> Decoded {
        self.layers
            .iter()
            .find_map(|s| s.typed_as(type_name, payload, forms))
            .unwrap_or_else(|| raw::decode(payload, forms))
    }

    /// As [`Schemas::secret_ranges`], with the first layer that knows the
    /// method and decodes the payload.
    pub fn secret_ranges(
        &self,
        path: Option<&str>,
        is_request: bool,
        payload: &[u8],
    ) -> Option<Vec<Range<usize>>> {
        self.layers
            .iter()
            .filter(|s| path.is_some_and(|p| s.knows(p)))
            .find_map(|s| s.secret_ranges(path, is_request, payload))
    }
}
