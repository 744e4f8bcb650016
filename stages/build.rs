//! torch-sys links libtorch_cpu, but the linker's `--as-needed` then drops libtorch_cuda,
//! because no symbol of it is referenced directly: CUDA kernels register themselves from
//! its static initialisers. Without it a binary sees no GPU even where one exists. So keep
//! it in the link of every target of this package (`pipe-torch`, the tests, the examples)
//! when the wheel ships it, and set an rpath to libtorch's lib dir so they run without
//! LD_LIBRARY_PATH on the machine that built them. Another machine with the same libtorch
//! (torch 2.11 from PyPI) runs them with LD_LIBRARY_PATH=<torch>/lib.
//!
//! pipe-stages is the only package that links libtorch: the engine (`pipe`) starts
//! `pipe-torch` for built-in stages and never loads libtorch itself.

fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        return;
    };
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
    }
}
