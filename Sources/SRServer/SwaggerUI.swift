import Foundation

/// Swagger UI, served from the assets `scripts/fetch_web_assets.py` installs from a pinned PyPI wheel that ships
/// Swagger UI 5 (flask-swagger-ui; never committed here). Swagger UI 4 cannot show OpenAPI 3.1 documents.
enum SwaggerUI {
    static var searchPaths: [String] {
        let env = ProcessInfo.processInfo.environment
        var paths: [String] = []
        if let dir = env["ENHANCE_SWAGGER_UI_DIR"], !dir.isEmpty { paths.append(dir) }
        let data = env["XDG_DATA_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".local/share")
        paths.append((data as NSString).appendingPathComponent("enhance/swagger-ui"))
        paths.append("/usr/local/share/enhance/swagger-ui")
        paths.append("/usr/share/enhance/swagger-ui")
        return paths
    }

    /// The first directory holding the bundle: the configured one, else the search paths.
    static func directory(configured: String?) -> String? {
        let candidates = configured.map { [$0] } ?? searchPaths
        return candidates.first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("swagger-ui-bundle.js")) }
    }

    static let types = ["js": "application/javascript; charset=utf-8", "css": "text/css; charset=utf-8", "png": "image/png",
                        "html": "text/html; charset=utf-8", "map": "application/json", "txt": "text/plain; charset=utf-8"]

    /// A file of the bundle by plain name (no paths), with its content type.
    static func asset(_ name: String, in directory: String) -> ([UInt8], String)? {
        guard !name.isEmpty, name.count <= 100, !name.hasPrefix("."),
              name.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0) }),
              let type = name == "LICENSE" ? "text/plain; charset=utf-8" : types[(name as NSString).pathExtension.lowercased()],
              let data = FileManager.default.contents(atPath: (directory as NSString).appendingPathComponent(name)) else {
            return nil
        }
        return ([UInt8](data), type)
    }

    static let indexHTML = """
        <!doctype html>
        <html lang="en">
        <head>
          <meta charset="utf-8">
          <meta name="viewport" content="width=device-width, initial-scale=1">
          <title>Enhance API</title>
          <link rel="stylesheet" href="/swagger-ui/swagger-ui.css">
          <link rel="icon" type="image/png" href="/swagger-ui/favicon-32x32.png">
        </head>
        <body>
          <p style="font-family: sans-serif; margin: 1em 2em">Try the <a href="/ui">web page</a>; the API document is at <a href="/openapi.json">/openapi.json</a>.</p>
          <div id="swagger-ui"></div>
          <script src="/swagger-ui/swagger-ui-bundle.js"></script>
          <script src="/swagger-ui/swagger-ui-standalone-preset.js"></script>
          <script>
            window.onload = () => {
              window.ui = SwaggerUIBundle({
                url: "/openapi.json",
                dom_id: "#swagger-ui",
                deepLinking: true,
                presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
                layout: "BaseLayout"
              });
            };
          </script>
        </body>
        </html>
        """
}
