import Foundation

// PLACEHOLDER (being written): TOML → DaemonConfig.
extension DaemonConfig {
    /// Reads and checks a config file.
    public static func load(path: String) throws -> DaemonConfig {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(file: path, message: "cannot read the file")
        }
        return try parse(text, file: path)
    }

    /// Parses TOML text; `file` is used in errors and to resolve relative paths.
    public static func parse(_ text: String, file: String) throws -> DaemonConfig {
        throw ConfigError(file: file, message: "config parser not written yet")
    }
}
