import Foundation

/// Checks HTTP responses against an OpenAPI 3.1 document: the path, method, status, content type, required
/// headers and, for JSON bodies, the JSON Schema of the documented response.
///
/// Rules, in order:
/// - `path` (query string and fragment ignored) must match a path template; a literal segment beats a `{param}`
///   segment when several templates match.
/// - `method` must be documented for that path, except that a `405` to an undocumented method is checked against
///   the `405` response one of the path's operations documents (a path that documents no `405` refuses it).
/// - `status` must be documented: the exact code, else an `NXX` range, else `default`.
/// - The response's `Content-Type` (parameters such as `charset` ignored, case-insensitive) must be one of the
///   response's media types (`image/*` and `*/*` ranges count); a response that documents no content must have an
///   empty body.
/// - Every header the response marks `required` must be present; a present documented header must satisfy its
///   schema (its text is read as a number or boolean where the schema's type asks for one).
/// - A JSON body (`application/json`, `*+json`) must parse and satisfy the media type's schema.
///
/// JSON Schema (2020-12 subset): boolean schemas, local `$ref` (`#/...`, siblings apply too), `type` (names and
/// arrays; `integer` means a number without a fraction), `enum`, `const`, `required`, `properties`,
/// `patternProperties`, `additionalProperties`, `minProperties`/`maxProperties`, `items`, `prefixItems`,
/// `minItems`/`maxItems`, `uniqueItems`, `minimum`/`maximum`, `exclusiveMinimum`/`exclusiveMaximum`, `multipleOf`,
/// `minLength`/`maxLength` (in Unicode scalars), `pattern` (NSRegularExpression, unanchored as JSON Schema says),
/// `allOf`/`anyOf`/`oneOf`/`not`. Annotations (`format`, `description`, `examples`, ...) are ignored.
struct OpenAPIValidator: Sendable {
    /// Why a response is not allowed by the document.
    struct Violation: Error, CustomStringConvertible, Equatable {
        let message: String
        init(_ message: String) { self.message = message }
        var description: String { message }
    }

    private let document: JSON
    private let paths: [(template: String, segments: [PathSegment], item: JSON)]

    init(json: Data) throws {
        let document: JSON
        do {
            document = try JSONDecoder().decode(JSON.self, from: json)
        } catch {
            throw Violation("the OpenAPI document is not JSON: \(error)")
        }
        guard case .string(let version)? = document["openapi"], version.hasPrefix("3.") else {
            throw Violation("not an OpenAPI 3.x document (no \"openapi\": \"3.x\" at #/openapi)")
        }
        guard case .object(let paths)? = document["paths"] else {
            throw Violation("the OpenAPI document has no paths object at #/paths")
        }
        self.document = document
        self.paths = try paths.keys.sorted().map { template in
            (template, try PathSegment.parse(template), paths[template]!)
        }
    }

    /// Throws ``Violation`` when the response is not allowed by the document.
    func validate(method: String, path: String, status: Int, headers: [String: String], body: Data) throws {
        let rawPath = String(path.prefix { $0 != "?" && $0 != "#" })
        let what = "\(method.uppercased()) \(rawPath) → \(status)"

        // Path.
        guard let (template, pathItemValue) = matchPath(rawPath) else {
            throw Violation("\(what): the path matches no path template of the document (#/paths)")
        }
        let itemPointer = "#/paths/" + Self.escape(template)
        let (pathItem, itemLocation) = try resolve(pathItemValue, at: itemPointer)

        // Method.
        let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        let documented = methods.filter { pathItem[$0] != nil }
        let responseValue: JSON
        var responseLocation: String
        if let operation = pathItem[method.lowercased()], methods.contains(method.lowercased()) {
            let operationLocation = "\(itemLocation)/\(method.lowercased())"
            guard case .object(let responses)? = operation["responses"] else {
                throw Violation("\(what): the operation has no responses (\(operationLocation)/responses)")
            }
            let code = String(status)
            let range = "\(status / 100)XX"
            if let r = responses[code] {
                (responseValue, responseLocation) = (r, "\(operationLocation)/responses/\(code)")
            } else if let key = responses.keys.first(where: { $0.uppercased() == range }) {
                (responseValue, responseLocation) = (responses[key]!, "\(operationLocation)/responses/\(key)")
            } else if let r = responses["default"] {
                (responseValue, responseLocation) = (r, "\(operationLocation)/responses/default")
            } else {
                throw Violation("\(what): status \(status) is not documented at \(operationLocation)/responses " +
                                "(documented: \(responses.keys.sorted().joined(separator: ", ")))")
            }
        } else {
            let allowed = documented.map { $0.uppercased() }.joined(separator: ", ")
            let with405 = documented.first { m in
                if case .object(let r)? = pathItem[m]?["responses"] { return r["405"] != nil }
                return false
            }
            guard status == 405, let m = with405 else {
                throw Violation("\(what): method \(method.uppercased()) is not documented for \(template) " +
                                "(\(itemLocation) documents \(allowed.isEmpty ? "no methods" : allowed))")
            }
            responseValue = pathItem[m]?["responses"]?["405"] ?? .null
            responseLocation = "\(itemLocation)/\(m)/responses/405"
        }
        let response: JSON
        (response, responseLocation) = try resolve(responseValue, at: responseLocation)

        // Content type and body.
        let lowered = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, _ in a })
        let contentType = lowered["content-type"].map(Self.mediaType)
        if case .object(let content)? = response["content"], !content.isEmpty {
            guard let contentType, !contentType.isEmpty else {
                throw Violation("\(what): no Content-Type header, but \(responseLocation)/content documents " +
                                content.keys.sorted().joined(separator: ", "))
            }
            guard let key = Self.bestMediaKey(for: contentType, in: Array(content.keys)) else {
                throw Violation("\(what): Content-Type \(contentType) is not documented at " +
                                "\(responseLocation)/content (documented: " +
                                "\(content.keys.sorted().joined(separator: ", ")))")
            }
            if Self.isJSON(contentType) {
                let instance: JSON
                do {
                    instance = try JSONDecoder().decode(JSON.self, from: body)
                } catch {
                    throw Violation("\(what): the body is not JSON although its Content-Type is \(contentType): " +
                                    "\(String(decoding: body.prefix(200), as: UTF8.self))")
                }
                if let schema = content[key]?["schema"] {
                    let schemaLocation = "\(responseLocation)/content/\(Self.escape(key))/schema"
                    let errors = check(instance, against: schema, instancePointer: "#", schemaPointer: schemaLocation,
                                       depth: 0)
                    if !errors.isEmpty {
                        throw Violation("\(what): the JSON body does not match its schema:\n  - " +
                                        errors.joined(separator: "\n  - "))
                    }
                }
            }
        } else if !body.isEmpty {
            throw Violation("\(what): \(responseLocation) documents no content, but the body has \(body.count) bytes")
        }

        // Headers.
        if case .object(let documentedHeaders)? = response["headers"] {
            for name in documentedHeaders.keys.sorted() where name.lowercased() != "content-type" {
                let (header, headerLocation) = try resolve(documentedHeaders[name]!,
                                                           at: "\(responseLocation)/headers/\(Self.escape(name))")
                guard let value = lowered[name.lowercased()] else {
                    if header["required"] == .bool(true) {
                        throw Violation("\(what): the required header \(name) is missing (\(headerLocation))")
                    }
                    continue
                }
                if let schema = header["schema"] {
                    let instance = headerInstance(value, schema: schema, at: "\(headerLocation)/schema")
                    let errors = check(instance, against: schema, instancePointer: "#",
                                       schemaPointer: "\(headerLocation)/schema", depth: 0)
                    if !errors.isEmpty {
                        throw Violation("\(what): header \(name): \(value.debugDescription) does not match its " +
                                        "schema:\n  - " + errors.joined(separator: "\n  - "))
                    }
                }
            }
        }
    }

    // MARK: - Paths

    private enum PathSegment {
        case literal(String)
        /// A segment with `{param}` parts, as an anchored pattern; `literalCount` ranks it against other matches.
        case template(regex: String, literalCount: Int)

        static func parse(_ template: String) throws -> [PathSegment] {
            template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { part in
                let s = String(part)
                guard s.contains("{") else { return .literal(s) }
                var regex = "^", literal = 0, i = s.startIndex
                while i < s.endIndex {
                    if s[i] == "{", let close = s[i...].firstIndex(of: "}") {
                        regex += "[^/]+"
                        i = s.index(after: close)
                    } else {
                        regex += NSRegularExpression.escapedPattern(for: String(s[i]))
                        literal += 1
                        i = s.index(after: i)
                    }
                }
                return .template(regex: regex + "$", literalCount: literal)
            }
        }
    }

    /// The best matching template: most literal segments first, then most literal characters in template segments.
    private func matchPath(_ path: String) -> (String, JSON)? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
        guard path.hasPrefix("/") else { return nil }
        var best: (score: (Int, Int), template: String, item: JSON)?
        for (template, segments, item) in paths where segments.count == parts.count {
            var literals = 0, literalChars = 0, matched = true
            for (segment, part) in zip(segments, parts) {
                switch segment {
                case .literal(let l):
                    if l == part { literals += 1 } else { matched = false }
                case .template(let regex, let count):
                    if part.isEmpty || !Self.matches(regex, part) { matched = false } else { literalChars += count }
                }
                if !matched { break }
            }
            guard matched else { continue }
            let score = (literals, literalChars)
            if best == nil || score > best!.score { best = (score, template, item) }
        }
        return best.map { ($0.template, $0.item) }
    }

    // MARK: - References

    /// Follows `$ref` chains of Reference Objects (path items, responses, headers) to the object they name.
    private func resolve(_ value: JSON, at pointer: String) throws -> (JSON, String) {
        var value = value, pointer = pointer, seen: Set<String> = []
        while case .string(let ref)? = value["$ref"] {
            guard seen.insert(ref).inserted else { throw Violation("$ref cycle at \(pointer): \(ref)") }
            guard let target = lookup(ref) else { throw Violation("unresolvable $ref \(ref) at \(pointer)") }
            (value, pointer) = (target, ref)
        }
        return (value, pointer)
    }

    /// The value at a local reference `#/a/b~1c`.
    private func lookup(_ ref: String) -> JSON? {
        guard ref.hasPrefix("#") else { return nil }
        let fragment = String(ref.dropFirst()).removingPercentEncoding ?? String(ref.dropFirst())
        if fragment.isEmpty { return document }
        guard fragment.hasPrefix("/") else { return nil }
        var node = document
        for token in fragment.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object(let o):
                guard let next = o[key] else { return nil }
                node = next
            case .array(let a):
                guard let i = Int(key), a.indices.contains(i) else { return nil }
                node = a[i]
            default:
                return nil
            }
        }
        return node
    }

    // MARK: - JSON Schema

    /// The errors of `instance` against `schema`, each naming the instance's JSON pointer and the schema's.
    private func check(_ instance: JSON, against schema: JSON, instancePointer: String,
                       schemaPointer: String, depth: Int) -> [String] {
        func fail(_ message: String, _ keyword: String) -> String {
            "at \(instancePointer): \(message) (\(schemaPointer)/\(keyword))"
        }
        guard depth < 256 else { return [fail("schema nesting too deep ($ref cycle?)", "")] }
        switch schema {
        case .bool(true): return []
        case .bool(false): return ["at \(instancePointer): no value is allowed here (\(schemaPointer) is false)"]
        case .object: break
        default: return ["at \(instancePointer): \(schemaPointer) is not a schema"]
        }
        var errors: [String] = []
        func sub(_ value: JSON, _ s: JSON, _ ip: String, _ sp: String) -> [String] {
            check(value, against: s, instancePointer: ip, schemaPointer: sp, depth: depth + 1)
        }

        if case .string(let ref)? = schema["$ref"] {
            if let target = lookup(ref) {
                errors += sub(instance, target, instancePointer, ref)
            } else {
                errors.append(fail("unresolvable $ref \(ref)", "$ref"))
            }
        }

        if let type = schema["type"] {
            let names: [String] = switch type {
            case .string(let s): [s]
            case .array(let a): a.compactMap { if case .string(let s) = $0 { s } else { nil } }
            default: []
            }
            if !names.contains(where: { instance.hasType($0) }) {
                errors.append(fail("expected \(names.joined(separator: " or ")), got \(instance.typeName) " +
                                   instance.brief, "type"))
            }
        }
        if case .array(let options)? = schema["enum"], !options.contains(instance) {
            errors.append(fail("\(instance.brief) is not one of \(options.map(\.brief).joined(separator: ", "))",
                               "enum"))
        }
        if let constant = schema["const"], constant != instance {
            errors.append(fail("\(instance.brief) is not \(constant.brief)", "const"))
        }

        switch instance {
        case .object(let object):
            if case .array(let required)? = schema["required"] {
                for case .string(let name) in required where object[name] == nil {
                    errors.append(fail("the required property \"\(name)\" is missing", "required"))
                }
            }
            if case .number(let n)? = schema["minProperties"], Double(object.count) < n {
                errors.append(fail("\(object.count) properties, fewer than \(n.shortText)", "minProperties"))
            }
            if case .number(let n)? = schema["maxProperties"], Double(object.count) > n {
                errors.append(fail("\(object.count) properties, more than \(n.shortText)", "maxProperties"))
            }
            let properties: [String: JSON] = if case .object(let p)? = schema["properties"] { p } else { [:] }
            let patterns: [String: JSON] =
                if case .object(let p)? = schema["patternProperties"] { p } else { [:] }
            for key in object.keys.sorted() {
                let value = object[key]!
                let ip = "\(instancePointer)/\(Self.escape(key))"
                var evaluated = false
                if let s = properties[key] {
                    evaluated = true
                    errors += sub(value, s, ip, "\(schemaPointer)/properties/\(Self.escape(key))")
                }
                for pattern in patterns.keys.sorted() where Self.matches(pattern, key) {
                    evaluated = true
                    errors += sub(value, patterns[pattern]!, ip,
                                  "\(schemaPointer)/patternProperties/\(Self.escape(pattern))")
                }
                if !evaluated, let additional = schema["additionalProperties"] {
                    if additional == .bool(false) {
                        errors.append("at \(ip): the property \"\(key)\" is not allowed " +
                                      "(\(schemaPointer)/additionalProperties is false)")
                    } else {
                        errors += sub(value, additional, ip, "\(schemaPointer)/additionalProperties")
                    }
                }
            }
        case .array(let array):
            var prefix = 0
            if case .array(let tuple)? = schema["prefixItems"] {
                for (i, s) in tuple.enumerated() where i < array.count {
                    errors += sub(array[i], s, "\(instancePointer)/\(i)", "\(schemaPointer)/prefixItems/\(i)")
                }
                prefix = tuple.count
            }
            switch schema["items"] {
            case .array(let tuple)?:  // draft 4-2019 tuple form
                for (i, s) in tuple.enumerated() where i < array.count {
                    errors += sub(array[i], s, "\(instancePointer)/\(i)", "\(schemaPointer)/items/\(i)")
                }
            case let items?:
                for i in array.indices where i >= prefix {
                    errors += sub(array[i], items, "\(instancePointer)/\(i)", "\(schemaPointer)/items")
                }
            case nil: break
            }
            if case .number(let n)? = schema["minItems"], Double(array.count) < n {
                errors.append(fail("\(array.count) items, fewer than \(n.shortText)", "minItems"))
            }
            if case .number(let n)? = schema["maxItems"], Double(array.count) > n {
                errors.append(fail("\(array.count) items, more than \(n.shortText)", "maxItems"))
            }
            if schema["uniqueItems"] == .bool(true) {
                outer: for i in array.indices {
                    for j in array.indices where j > i && array[i] == array[j] {
                        errors.append(fail("items \(i) and \(j) are equal", "uniqueItems"))
                        break outer
                    }
                }
            }
        case .number(let x):
            if case .number(let m)? = schema["minimum"], x < m {
                errors.append(fail("\(x.shortText) is less than \(m.shortText)", "minimum"))
            }
            if case .number(let m)? = schema["maximum"], x > m {
                errors.append(fail("\(x.shortText) is greater than \(m.shortText)", "maximum"))
            }
            if case .number(let m)? = schema["exclusiveMinimum"], x <= m {
                errors.append(fail("\(x.shortText) is not greater than \(m.shortText)", "exclusiveMinimum"))
            }
            if case .number(let m)? = schema["exclusiveMaximum"], x >= m {
                errors.append(fail("\(x.shortText) is not less than \(m.shortText)", "exclusiveMaximum"))
            }
            if case .number(let m)? = schema["multipleOf"], m > 0 {
                let q = x / m
                if abs(q - q.rounded()) > 1e-9 * max(1, abs(q)) {
                    errors.append(fail("\(x.shortText) is not a multiple of \(m.shortText)", "multipleOf"))
                }
            }
        case .string(let s):
            let length = s.unicodeScalars.count
            if case .number(let n)? = schema["minLength"], Double(length) < n {
                errors.append(fail("\(s.debugDescription) is shorter than \(n.shortText) characters", "minLength"))
            }
            if case .number(let n)? = schema["maxLength"], Double(length) > n {
                errors.append(fail("\(String(s.prefix(60)).debugDescription) is longer than \(n.shortText) characters",
                                   "maxLength"))
            }
            if case .string(let pattern)? = schema["pattern"] {
                if (try? NSRegularExpression(pattern: pattern)) == nil {
                    errors.append(fail("the pattern \(pattern.debugDescription) is not a valid regular expression",
                                       "pattern"))
                } else if !Self.matches(pattern, s) {
                    errors.append(fail("\(s.debugDescription) does not match \(pattern.debugDescription)", "pattern"))
                }
            }
        case .bool, .null:
            break
        }

        if case .array(let all)? = schema["allOf"] {
            for (i, s) in all.enumerated() {
                errors += sub(instance, s, instancePointer, "\(schemaPointer)/allOf/\(i)")
            }
        }
        if case .array(let any)? = schema["anyOf"] {
            let results = any.enumerated().map { sub(instance, $1, instancePointer, "\(schemaPointer)/anyOf/\($0)") }
            if !results.contains(where: \.isEmpty) {
                errors.append(fail("matches none of the \(any.count) anyOf schemas: " +
                                   results.map { $0.joined(separator: "; ") }.joined(separator: " | "), "anyOf"))
            }
        }
        if case .array(let one)? = schema["oneOf"] {
            let results = one.enumerated().map { sub(instance, $1, instancePointer, "\(schemaPointer)/oneOf/\($0)") }
            let passing = results.indices.filter { results[$0].isEmpty }
            if passing.isEmpty {
                errors.append(fail("matches none of the \(one.count) oneOf schemas: " +
                                   results.map { $0.joined(separator: "; ") }.joined(separator: " | "), "oneOf"))
            } else if passing.count > 1 {
                errors.append(fail("matches more than one oneOf schema (\(passing.map(String.init))", "oneOf"))
            }
        }
        if let not = schema["not"], sub(instance, not, instancePointer, "\(schemaPointer)/not").isEmpty {
            errors.append(fail("matches the schema it must not match", "not"))
        }
        return errors
    }

    /// A header's text as the JSON value its schema's type asks for.
    private func headerInstance(_ text: String, schema: JSON, at pointer: String) -> JSON {
        var schema = schema, seen: Set<String> = []
        while case .string(let ref)? = schema["$ref"], seen.insert(ref).inserted, let target = lookup(ref) {
            schema = target
        }
        let types: [String] = switch schema["type"] {
        case .string(let s)?: [s]
        case .array(let a)?: a.compactMap { if case .string(let s) = $0 { s } else { nil } }
        default: []
        }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if types.contains("integer") || types.contains("number"), let n = Double(trimmed), n.isFinite {
            return .number(n)
        }
        if types.contains("boolean"), trimmed == "true" || trimmed == "false" { return .bool(trimmed == "true") }
        return .string(text)
    }

    // MARK: - Helpers

    /// `type/subtype` of a Content-Type value, lowercased, without parameters.
    private static func mediaType(_ value: String) -> String {
        String(value.prefix { $0 != ";" }).trimmingCharacters(in: .whitespaces).lowercased()
    }

    private static func isJSON(_ mediaType: String) -> Bool {
        mediaType == "application/json" || mediaType.hasSuffix("+json")
    }

    /// The documented media type for `type`: an exact match, else `type/*`, else `*/*`.
    private static func bestMediaKey(for type: String, in keys: [String]) -> String? {
        let major = type.split(separator: "/").first.map(String.init) ?? type
        let normalized = keys.map { ($0, mediaType($0)) }
        return normalized.first { $0.1 == type }?.0
            ?? normalized.first { $0.1 == "\(major)/*" }?.0
            ?? normalized.first { $0.1 == "*/*" }?.0
    }

    /// A JSON pointer token for `key`.
    private static func escape(_ key: String) -> String {
        key.replacingOccurrences(of: "~", with: "~0").replacingOccurrences(of: "/", with: "~1")
    }

    private static func matches(_ pattern: String, _ text: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return false }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

extension OpenAPIValidator {
    /// A parsed JSON value; numbers are `Double`, so `1` and `1.0` are equal (as JSON Schema wants).
    enum JSON: Sendable, Equatable, Decodable {
        case null
        case bool(Bool)
        case number(Double)
        case string(String)
        case array([JSON])
        case object([String: JSON])

        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if container.decodeNil() {
                self = .null
            } else if let b = try? container.decode(Bool.self) {
                self = .bool(b)
            } else if let n = try? container.decode(Double.self) {
                self = .number(n)
            } else if let s = try? container.decode(String.self) {
                self = .string(s)
            } else if let a = try? container.decode([JSON].self) {
                self = .array(a)
            } else {
                self = .object(try container.decode([String: JSON].self))
            }
        }

        subscript(key: String) -> JSON? {
            if case .object(let o) = self { o[key] } else { nil }
        }

        func hasType(_ name: String) -> Bool {
            switch (name, self) {
            case ("null", .null), ("boolean", .bool), ("number", .number), ("string", .string), ("array", .array),
                 ("object", .object):
                true
            case ("integer", .number(let n)):
                n.isFinite && n.rounded() == n
            default:
                false
            }
        }

        var typeName: String {
            switch self {
            case .null: "null"
            case .bool: "boolean"
            case .number(let n): n.rounded() == n ? "integer" : "number"
            case .string: "string"
            case .array: "array"
            case .object: "object"
            }
        }

        /// A short rendering for messages.
        var brief: String {
            switch self {
            case .null: "null"
            case .bool(let b): String(b)
            case .number(let n): n.shortText
            case .string(let s): String(s.prefix(60)).debugDescription
            case .array(let a): "[\(a.count) items]"
            case .object(let o): "{\(o.keys.sorted().prefix(6).joined(separator: ", "))}"
            }
        }
    }
}

private extension Double {
    /// `3` rather than `3.0` for whole numbers.
    var shortText: String {
        isFinite && rounded() == self && abs(self) < 1e15 ? String(Int64(self)) : String(self)
    }
}
