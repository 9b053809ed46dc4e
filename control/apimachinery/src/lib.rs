//! Pure Kubernetes API machinery shared by the API server and its clients in this workspace:
//! the resource table, label and field selectors, the three patch types with the built-in kinds'
//! merge keys, and the OpenAPI documents. Nothing here does IO.

pub mod admission;
pub mod openapi;
pub mod openapi_pb;
pub mod patch;
pub mod protobuf;
pub mod resources;
pub mod selector;
pub mod table;
