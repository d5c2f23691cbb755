fn main() {
    std::process::exit(sshdoctor::cli::main());
}
