//! Integration tests of the built-in stages, on CPU with tiny sizes. One test binary (each
//! links libtorch, which is slow), one module per subject.

mod encoders;
mod errors;
mod model;
mod pipeline;
mod stages;
mod support;
