/* Config loader: dbus-daemon's XML configuration through expat, element by
 * element as dbus-daemon 1.14 bus/config-parser.c and
 * bus/config-loader-expat.c handle it */
#include <dirent.h>
#include <expat.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <exception>
#include <fstream>
#include <sstream>

#include "policy/config.hpp"
#include "policy/rule_parser.hpp"

namespace kdbus::policy {

namespace {

std::string location_text(const std::string& file, unsigned line, const std::string& reason)
{
    if (line == 0)
        return file + ": " + reason;
    return file + ":" + std::to_string(line) + ": " + reason;
}

}  // namespace

ConfigError::ConfigError(std::string file, unsigned line, std::string reason)
    : std::runtime_error(location_text(file, line, reason)),
      file_(std::move(file)),
      line_(line),
      reason_(std::move(reason))
{
}

namespace {

/* The file does not exist: <include ignore_missing="yes"> and <includedir>
 * skip it (dbus-daemon: DBUS_ERROR_FILE_NOT_FOUND). */
class MissingFile : public ConfigError {
public:
    using ConfigError::ConfigError;
};

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s)
{
    while (!s.empty() && is_blank(s.front()))
        s.remove_prefix(1);
    while (!s.empty() && is_blank(s.back()))
        s.remove_suffix(1);
    return s;
}

/* _dbus_string_get_dirname */
std::string dirname_of(const std::string& path)
{
    const size_t slash = path.find_last_not_of('/') == std::string::npos
                             ? std::string::npos
                             : path.rfind('/', path.find_last_not_of('/'));
    if (slash == std::string::npos)
        return ".";
    const size_t end = path.find_last_not_of('/', slash);
    if (end == std::string::npos)
        return "/";
    return path.substr(0, end + 1);
}

/* make_full_path: absolute paths stand, relative ones hang off `basedir`. */
std::string full_path(const std::string& basedir, std::string_view file)
{
    if (!file.empty() && file.front() == '/')
        return std::string(file);
    std::string out = basedir;
    if (out.empty() || out.back() != '/')
        out += '/';
    out += file;
    return out;
}

enum class Scope { ignored, default_context, mandatory, user, group, console };

struct ScopedRule {
    Scope scope;
    uint32_t id;  // uid, gid or at_console
    Rule rule;
};

void add_servicedir(std::vector<ServiceDir>& dirs, ServiceDir dir)
{
    if (std::find_if(dirs.begin(), dirs.end(),
                     [&](const ServiceDir& d) { return d.path == dir.path; }) == dirs.end())
        dirs.push_back(std::move(dir));
}

/* What one file contributes: dbus-daemon parses every file into its own
 * BusConfigParser and merges an included one into its includer only once it
 * loaded completely, so a broken file in an <includedir> leaves no trace. */
struct Fragment {
    std::optional<std::string> type, user, pidfile, servicehelper, apparmor_mode;
    bool fork = false, keep_umask = false, syslog = false, allow_anonymous = false;
    std::vector<std::string> listen, auth, conf_dirs;
    std::vector<ServiceDir> servicedirs;
    Limits limits;
    std::vector<ScopedRule> rules;
    std::vector<std::pair<std::string, std::string>> selinux;

    /* merge_included */
    void absorb(Fragment&& from)
    {
        for (auto& r : from.rules)
            rules.push_back(std::move(r));
        for (auto& a : from.selinux)
            selinux.push_back(std::move(a));
        if (from.user)
            user = std::move(from.user);
        if (from.type)
            type = std::move(from.type);
        fork = fork || from.fork;
        keep_umask = keep_umask || from.keep_umask;
        allow_anonymous = allow_anonymous || from.allow_anonymous;
        /* dbus-daemon does not merge <syslog/> from included files. */
        if (from.pidfile)
            pidfile = std::move(from.pidfile);
        if (from.servicehelper)
            servicehelper = std::move(from.servicehelper);
        /* dbus-daemon keeps the AppArmor mode in a global: last one wins. */
        if (from.apparmor_mode)
            apparmor_mode = std::move(from.apparmor_mode);
        for (auto& l : from.listen)
            listen.push_back(std::move(l));
        for (auto& a : from.auth)
            auth.push_back(std::move(a));
        for (auto& d : from.servicedirs)
            add_servicedir(servicedirs, std::move(d));
        for (auto& d : from.conf_dirs)
            conf_dirs.push_back(std::move(d));
        /* An included file starts from its includer's limits and hands
         * them back. */
        limits = from.limits;
    }
};

enum class Element {
    none,
    busconfig,
    include,
    user,
    listen,
    auth,
    policy,
    limit,
    allow,
    deny,
    fork,
    pidfile,
    servicedir,
    servicehelper,
    includedir,
    type,
    selinux,
    associate,
    standard_session_servicedirs,
    standard_system_servicedirs,
    keep_umask,
    syslog,
    allow_anonymous,
    apparmor,
};

constexpr std::pair<std::string_view, Element> kElements[] = {
    {"busconfig", Element::busconfig},
    {"include", Element::include},
    {"user", Element::user},
    {"listen", Element::listen},
    {"auth", Element::auth},
    {"policy", Element::policy},
    {"limit", Element::limit},
    {"allow", Element::allow},
    {"deny", Element::deny},
    {"fork", Element::fork},
    {"pidfile", Element::pidfile},
    {"servicedir", Element::servicedir},
    {"servicehelper", Element::servicehelper},
    {"includedir", Element::includedir},
    {"type", Element::type},
    {"selinux", Element::selinux},
    {"associate", Element::associate},
    {"standard_session_servicedirs", Element::standard_session_servicedirs},
    {"standard_system_servicedirs", Element::standard_system_servicedirs},
    {"keep_umask", Element::keep_umask},
    {"syslog", Element::syslog},
    {"allow_anonymous", Element::allow_anonymous},
    {"apparmor", Element::apparmor},
};

Element element_named(std::string_view name)
{
    for (const auto& [n, e] : kElements) {
        if (n == name)
            return e;
    }
    return Element::none;
}

std::string_view name_of(Element element)
{
    for (const auto& [n, e] : kElements) {
        if (e == element)
            return n;
    }
    return "none";
}

/* Elements whose text is their value; the rest may hold only blanks. */
bool takes_text(Element e)
{
    switch (e) {
    case Element::include:
    case Element::user:
    case Element::type:
    case Element::listen:
    case Element::pidfile:
    case Element::auth:
    case Element::servicedir:
    case Element::servicehelper:
    case Element::includedir:
    case Element::limit:
        return true;
    default:
        return false;
    }
}

struct Frame {
    Element type = Element::none;
    bool had_content = false;
    /* <include> */
    bool ignore_missing = false;
    bool if_selinux_enabled = false;
    bool selinux_root_relative = false;
    /* <policy> */
    Scope scope = Scope::ignored;
    uint32_t id = 0;
    /* <limit> */
    std::string limit_name;
    long limit_value = 0;
    /* <limit user="..."> (kdbusd's): the uid it names, or nullopt with
     * limit_user set when the user is unknown (the limit is then dropped,
     * as a <policy user="..."> for an unknown user is). */
    std::optional<std::string> limit_user;
    std::optional<uid_t> limit_uid;
};

/* State shared by every file of one load. */
struct Loader {
    LoadOptions options;
    std::vector<std::string> include_stack;  // dbus-daemon's included_files
    std::vector<std::string> files_read;
    std::vector<std::string> warnings;
    std::vector<std::string> unsupported;

    explicit Loader(const LoadOptions& opts) : options(opts)
    {
        if (!options.lookup_user)
            options.lookup_user = lookup_system_user;
        if (!options.lookup_group)
            options.lookup_group = lookup_system_group;
    }

    void note_unsupported(std::string what)
    {
        if (std::find(unsupported.begin(), unsupported.end(), what) == unsupported.end())
            unsupported.push_back(std::move(what));
    }

    Fragment load_file(const std::string& path, const Limits& inherited, bool toplevel);
    Fragment load_text(std::string_view xml, const std::string& path, const Limits& inherited,
                       bool toplevel);
};

class FileParser {
public:
    FileParser(Loader& loader, std::string path, const Limits& inherited, bool toplevel)
        : loader_(loader), path_(std::move(path)), basedir_(dirname_of(path_)), toplevel_(toplevel)
    {
        fragment_.limits = inherited;
    }

    Fragment parse(std::string_view xml);

private:
    struct ExpatDeleter {
        void operator()(XML_Parser p) const { XML_ParserFree(p); }
    };

    static void on_start(void* self, const XML_Char* name, const XML_Char** atts);
    static void on_end(void* self, const XML_Char* name);
    static void on_text(void* self, const XML_Char* s, int len);
    template <typename F>
    void guarded(F&& f);

    void start(std::string_view name, const Attributes& attributes);
    void start_busconfig_child(std::string_view name, const Attributes& attributes);
    void start_policy_child(std::string_view name, const Attributes& attributes);
    void start_selinux_child(std::string_view name, const Attributes& attributes);
    void end();
    void flush_text();
    void content(std::string_view text);
    void include_file(const std::string& path, bool ignore_missing);
    void include_dir(const std::string& dir);
    void set_limit(const Frame& frame);

    Frame& push(Element type)
    {
        stack_.push_back(Frame{});
        stack_.back().type = type;
        return stack_.back();
    }
    unsigned line() const { return xml_ ? unsigned(XML_GetCurrentLineNumber(xml_.get())) : 0; }
    [[noreturn]] void fail(std::string reason) const { throw ConfigError(path_, line(), std::move(reason)); }
    void no_attributes(std::string_view element, const Attributes& attributes) const;
    std::vector<std::optional<std::string_view>> locate(std::string_view element,
                                                        const Attributes& attributes,
                                                        std::initializer_list<std::string_view> names) const;
    void warn(std::string text) { loader_.warnings.push_back(path_ + ":" + std::to_string(line()) + ": " + text); }

    Loader& loader_;
    std::string path_;
    std::string basedir_;
    bool toplevel_;
    Fragment fragment_;
    std::vector<Frame> stack_;
    std::string text_;
    std::unique_ptr<XML_ParserStruct, ExpatDeleter> xml_;
    std::exception_ptr error_;
};

template <typename F>
void FileParser::guarded(F&& f)
{
    if (error_)
        return;
    try {
        f();
    } catch (...) {
        /* Exceptions must not cross expat's C frames. */
        error_ = std::current_exception();
        XML_StopParser(xml_.get(), XML_FALSE);
    }
}

void FileParser::on_start(void* self, const XML_Char* name, const XML_Char** atts)
{
    auto* p = static_cast<FileParser*>(self);
    p->guarded([&] {
        p->flush_text();
        Attributes attributes;
        for (size_t i = 0; atts[i] != nullptr; i += 2)
            attributes.emplace_back(atts[i], atts[i + 1]);
        p->start(name, attributes);
    });
}

void FileParser::on_end(void* self, const XML_Char*)
{
    auto* p = static_cast<FileParser*>(self);
    p->guarded([&] {
        p->flush_text();
        p->end();
    });
}

void FileParser::on_text(void* self, const XML_Char* s, int len)
{
    auto* p = static_cast<FileParser*>(self);
    if (!p->error_)
        p->text_.append(s, size_t(len));
}

Fragment FileParser::parse(std::string_view xml)
{
    xml_.reset(XML_ParserCreate("UTF-8"));
    if (!xml_)
        throw std::bad_alloc();
    XML_SetUserData(xml_.get(), this);
    XML_SetElementHandler(xml_.get(), on_start, on_end);
    XML_SetCharacterDataHandler(xml_.get(), on_text);
    if (xml.size() > size_t(INT_MAX))
        throw ConfigError(path_, 0, "Configuration file is too large");
    if (XML_Parse(xml_.get(), xml.data(), int(xml.size()), XML_TRUE) == XML_STATUS_ERROR) {
        if (error_)
            std::rethrow_exception(error_);
        const auto l = XML_GetCurrentLineNumber(xml_.get());
        const auto c = XML_GetCurrentColumnNumber(xml_.get());
        const char* what = XML_ErrorString(XML_GetErrorCode(xml_.get()));
        throw ConfigError(path_, unsigned(l),
                          "Error in file " + path_ + ", line " + std::to_string(l) + ", column " +
                              std::to_string(c) + ": " + what);
    }
    if (error_)
        std::rethrow_exception(error_);
    /* bus_config_parser_finished */
    if (!stack_.empty())
        throw ConfigError(path_, 0, "Element <" + std::string(name_of(stack_.back().type)) +
                                        "> was not closed in configuration file");
    if (toplevel_ && loader_.options.require_listen && fragment_.listen.empty())
        throw ConfigError(path_, 0,
                          "Configuration file needs one or more <listen> elements giving addresses");
    xml_.reset();
    return std::move(fragment_);
}

void FileParser::no_attributes(std::string_view element, const Attributes& attributes) const
{
    if (!attributes.empty())
        fail("Attribute " + quoted(attributes.front().first) + " is invalid on <" +
             std::string(element) + "> element in this context");
}

std::vector<std::optional<std::string_view>> FileParser::locate(
    std::string_view element, const Attributes& attributes,
    std::initializer_list<std::string_view> names) const
{
    std::vector<std::optional<std::string_view>> found(names.size());
    for (const auto& [name, value] : attributes) {
        auto it = std::find(names.begin(), names.end(), name);
        if (it == names.end())
            fail("Attribute " + quoted(name) + " is invalid on <" + std::string(element) +
                 "> element in this context");
        auto& slot = found[size_t(it - names.begin())];
        if (slot)
            fail("Attribute " + quoted(name) + " repeated twice on the same <" +
                 std::string(element) + "> element");
        slot = value;
    }
    return found;
}

void FileParser::start(std::string_view name, const Attributes& attributes)
{
    const Element top = stack_.empty() ? Element::none : stack_.back().type;
    switch (top) {
    case Element::none:
        if (name != "busconfig")
            fail("Unknown element <" + std::string(name) + "> at root of configuration file");
        no_attributes("busconfig", attributes);
        push(Element::busconfig);
        return;
    case Element::busconfig:
        start_busconfig_child(name, attributes);
        return;
    case Element::policy:
        start_policy_child(name, attributes);
        return;
    case Element::selinux:
        start_selinux_child(name, attributes);
        return;
    default:
        fail("Element <" + std::string(name) + "> is not allowed in this context");
    }
}

void FileParser::start_busconfig_child(std::string_view name, const Attributes& attributes)
{
    const Element type = element_named(name);
    switch (type) {
    case Element::user:
    case Element::type:
    case Element::pidfile:
    case Element::listen:
    case Element::auth:
    case Element::servicehelper:
    case Element::includedir:
    case Element::servicedir:
        no_attributes(name, attributes);
        push(type);
        return;
    case Element::fork:
        no_attributes(name, attributes);
        push(type);
        fragment_.fork = true;
        return;
    case Element::syslog:
        no_attributes(name, attributes);
        push(type);
        fragment_.syslog = true;
        return;
    case Element::keep_umask:
        no_attributes(name, attributes);
        push(type);
        fragment_.keep_umask = true;
        return;
    case Element::allow_anonymous:
        no_attributes(name, attributes);
        push(type);
        fragment_.allow_anonymous = true;
        return;
    case Element::standard_session_servicedirs:
        no_attributes(name, attributes);
        push(type);
        for (auto& dir : standard_session_servicedirs(loader_.options))
            add_servicedir(fragment_.servicedirs, std::move(dir));
        return;
    case Element::standard_system_servicedirs:
        no_attributes(name, attributes);
        push(type);
        for (auto& dir : standard_system_servicedirs())
            add_servicedir(fragment_.servicedirs, std::move(dir));
        return;
    case Element::include: {
        auto a = locate("include", attributes,
                        {"ignore_missing", "if_selinux_enabled", "selinux_root_relative"});
        Frame& frame = push(type);
        const std::string_view keys[] = {"ignore_missing", "if_selinux_enabled",
                                         "selinux_root_relative"};
        bool* flags[] = {&frame.ignore_missing, &frame.if_selinux_enabled,
                         &frame.selinux_root_relative};
        for (size_t i = 0; i < 3; ++i) {
            if (!a[i])
                continue;
            if (*a[i] == "yes")
                *flags[i] = true;
            else if (*a[i] != "no")
                fail(std::string(keys[i]) + " attribute must have value \"yes\" or \"no\"");
        }
        return;
    }
    case Element::policy: {
        auto a = locate("policy", attributes, {"context", "user", "group", "at_console"});
        Frame& frame = push(type);
        const auto& [context, user, group, at_console] = std::tie(a[0], a[1], a[2], a[3]);
        if (int(bool(context)) + int(bool(user)) + int(bool(group)) + int(bool(at_console)) != 1)
            fail("<policy> element must have exactly one of (context|user|group|at_console) "
                 "attributes");
        if (context) {
            if (*context == "default")
                frame.scope = Scope::default_context;
            else if (*context == "mandatory")
                frame.scope = Scope::mandatory;
            else
                fail("context attribute on <policy> must have the value \"default\" or "
                     "\"mandatory\", not " + quoted(*context));
        } else if (user) {
            /* Policies for unknown users are parsed and then dropped. */
            if (auto uid = loader_.options.lookup_user(*user)) {
                frame.scope = Scope::user;
                frame.id = *uid;
            } else {
                warn("Unknown username " + quoted(*user) + " in message bus configuration file");
            }
        } else if (group) {
            if (auto gid = loader_.options.lookup_group(*group)) {
                frame.scope = Scope::group;
                frame.id = *gid;
            } else {
                warn("Unknown group " + quoted(*group) + " in message bus configuration file");
            }
        } else {
            if (*at_console != "true" && *at_console != "false")
                fail("Unknown value " + quoted(*at_console) +
                     " for at_console in message bus configuration file");
            frame.scope = Scope::console;
            frame.id = *at_console == "true";
        }
        return;
    }
    case Element::limit: {
        auto a = locate("limit", attributes, {"name", "user"});
        Frame& frame = push(type);
        if (!a[0])
            fail("<limit> element must have a \"name\" attribute");
        frame.limit_name = std::string(*a[0]);
        if (a[1]) {
            frame.limit_user = std::string(*a[1]);
            frame.limit_uid = loader_.options.lookup_user(*a[1]);
        }
        return;
    }
    case Element::selinux:
        no_attributes(name, attributes);
        push(type);
        loader_.note_unsupported("SELinux: <selinux> name associations are not enforced");
        return;
    case Element::apparmor: {
        auto a = locate("apparmor", attributes, {"mode"});
        push(type);
        if (a[0]) {
            if (*a[0] != "required" && *a[0] != "enabled" && *a[0] != "disabled")
                fail("Mode attribute on <apparmor> must have value \"required\", \"enabled\" or "
                     "\"disabled\", not " + quoted(*a[0]));
            fragment_.apparmor_mode = std::string(*a[0]);
        }
        loader_.note_unsupported("AppArmor: <apparmor> mediation is not performed");
        return;
    }
    default:
        fail("Element <" + std::string(name) + "> not allowed inside <busconfig> in configuration file");
    }
}

void FileParser::start_policy_child(std::string_view name, const Attributes& attributes)
{
    if (name != "allow" && name != "deny")
        fail("Element <" + std::string(name) + "> not allowed inside <policy> in configuration file");
    const bool allow = name == "allow";
    RuleParseContext context{loader_.options.lookup_user, loader_.options.lookup_group,
                             [this](std::string text) { warn(std::move(text)); }};
    std::optional<Rule> rule;
    try {
        rule = parse_rule(allow, attributes, context);
    } catch (const RuleError& e) {
        fail(e.what());
    }
    const Frame policy = stack_.back();
    push(allow ? Element::allow : Element::deny);
    if (!rule)
        return;
    rule->file = path_;
    rule->line = line();
    const bool connect_rule = rule->kind == RuleKind::user || rule->kind == RuleKind::group;
    /* Who may connect is decided before any per-user policy could apply. */
    if (connect_rule && policy.scope == Scope::user)
        fail("<" + std::string(name) + "> rule cannot be per-user because it has bus-global semantics");
    if (connect_rule && policy.scope == Scope::group)
        fail("<" + std::string(name) + "> rule cannot be per-group because it has bus-global semantics");
    if (policy.scope == Scope::ignored)
        return;
    fragment_.rules.push_back(ScopedRule{policy.scope, policy.id, std::move(*rule)});
}

void FileParser::start_selinux_child(std::string_view name, const Attributes& attributes)
{
    if (name != "associate")
        fail("Element <" + std::string(name) + "> not allowed inside <selinux> in configuration file");
    auto a = locate("associate", attributes, {"own", "context"});
    push(Element::associate);
    if (!a[0] || !a[1])
        fail("Element <associate> must have attributes own=\"<servicename>\" and "
             "context=\"<selinux context>\"");
    fragment_.selinux.emplace_back(std::string(*a[0]), std::string(*a[1]));
}

void FileParser::flush_text()
{
    if (text_.empty())
        return;
    const std::string text = std::move(text_);
    text_.clear();
    content(text);
}

void FileParser::content(std::string_view raw)
{
    if (stack_.empty())
        fail("Text content outside of any XML element in configuration file");
    Frame& frame = stack_.back();
    if (!takes_text(frame.type)) {
        if (!trim(raw).empty())
            fail("No text content expected inside XML element " + std::string(name_of(frame.type)) +
                 " in configuration file");
        return;
    }
    /* dbus-daemon takes the text verbatim; surrounding blanks are trimmed
     * here, so `<listen> unix:… </listen>` works too. */
    const std::string text(trim(raw));
    if (text.empty())
        return;
    frame.had_content = true;
    switch (frame.type) {
    case Element::pidfile:
        fragment_.pidfile = text;
        break;
    case Element::user:
        fragment_.user = text;
        break;
    case Element::type:
        fragment_.type = text;
        break;
    case Element::listen:
        fragment_.listen.push_back(text);
        break;
    case Element::auth:
        fragment_.auth.push_back(text);
        break;
    case Element::servicehelper:
        fragment_.servicehelper = full_path(basedir_, text);
        break;
    case Element::servicedir:
        add_servicedir(fragment_.servicedirs, ServiceDir{full_path(basedir_, text), false});
        break;
    case Element::includedir:
        include_dir(full_path(basedir_, text));
        break;
    case Element::include: {
        if (frame.if_selinux_enabled && !loader_.options.selinux_enabled)
            break;
        if (frame.selinux_root_relative)
            fail("Could not determine SELinux policy root for relative inclusion");
        const bool ignore_missing = frame.ignore_missing;
        include_file(full_path(basedir_, text), ignore_missing);
        break;
    }
    case Element::limit: {
        auto value = parse_dbus_int(text);
        if (!value)
            fail("<limit name=" + quoted(frame.limit_name) +
                 "> element has invalid value (could not parse as integer)");
        frame.limit_value = *value;
        break;
    }
    default:
        break;
    }
}

void FileParser::end()
{
    const Frame frame = stack_.back();
    if (takes_text(frame.type)) {
        if (!frame.had_content)
            fail("XML element <" + std::string(name_of(frame.type)) +
                 "> was expected to have content inside it");
        if (frame.type == Element::limit)
            set_limit(frame);
    }
    stack_.pop_back();
}

void FileParser::set_limit(const Frame& frame)
{
    const std::string& name = frame.limit_name;
    const long value = frame.limit_value;
    const auto info = find_limit(name);
    if (!info)
        fail("There is no limit called " + quoted(name));
    if (value < 0)
        fail("<limit name=" + quoted(name) + "> must be a positive number");
    if (info->must_be_int && value > INT_MAX)
        fail("<limit name=" + quoted(name) + "> value is too large");
    if (!frame.limit_user) {
        fragment_.limits.*(info->field) = value;
        return;
    }
    if (!info->per_user)
        fail("<limit name=" + quoted(name) + "> cannot be set for one user: only the *_per_user limits can");
    if (!frame.limit_uid) {
        warn("Unknown username " + quoted(*frame.limit_user) + " in <limit>; the limit is ignored");
        return;
    }
    fragment_.limits.per_uid.push_back({*frame.limit_uid, info->field, value});
}

void FileParser::include_file(const std::string& path, bool ignore_missing)
{
    auto& stack = loader_.include_stack;
    if (std::find(stack.begin(), stack.end(), path) != stack.end())
        fail("Circular inclusion of file '" + path + "'");
    stack.push_back(path);
    struct Pop {
        std::vector<std::string>& s;
        ~Pop() { s.pop_back(); }
    } pop{stack};
    try {
        fragment_.absorb(loader_.load_file(path, fragment_.limits, false));
    } catch (const MissingFile& e) {
        if (!ignore_missing)
            fail(e.reason());
    }
}

void FileParser::include_dir(const std::string& dir)
{
    DIR* d = opendir(dir.c_str());
    if (d == nullptr) {
        if (errno == ENOENT)
            return;  // a missing <includedir> is fine (dbus-daemon)
        fail("Failed to read directory " + quoted(dir) + ": " + std::strerror(errno));
    }
    std::vector<std::string> files;
    while (const dirent* entry = readdir(d)) {
        const std::string_view name = entry->d_name;
        if (name.ends_with(".conf"))
            files.push_back(full_path(dir, name));
    }
    closedir(d);
    /* Sorted, so that the order of policies does not depend on readdir. */
    std::sort(files.begin(), files.end());
    for (const std::string& file : files) {
        try {
            include_file(file, true);
        } catch (const ConfigError& e) {
            /* dbus-daemon logs a broken file in an <includedir> and goes on
             * without it. */
            loader_.warnings.push_back("Encountered error '" + std::string(e.what()) +
                                       "' while parsing '" + file + "'");
        }
    }
    fragment_.conf_dirs.push_back(dir);
}

Fragment Loader::load_file(const std::string& path, const Limits& inherited, bool toplevel)
{
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int err = errno;
        const std::string reason = "Failed to open " + quoted(path) + ": " + std::strerror(err);
        if (err == ENOENT)
            throw MissingFile(path, 0, reason);
        throw ConfigError(path, 0, reason);
    }
    std::ostringstream data;
    data << in.rdbuf();
    if (in.bad())
        throw ConfigError(path, 0, "Failed to read " + quoted(path));
    return load_text(data.str(), path, inherited, toplevel);
}

Fragment Loader::load_text(std::string_view xml, const std::string& path, const Limits& inherited,
                           bool toplevel)
{
    files_read.push_back(path);
    FileParser parser(*this, path, inherited, toplevel);
    return parser.parse(xml);
}

Config assemble(Fragment&& fragment, Loader&& loader)
{
    Config config;
    config.type = fragment.type.value_or("");
    config.user = std::move(fragment.user);
    config.fork = fragment.fork;
    config.keep_umask = fragment.keep_umask;
    config.syslog = fragment.syslog;
    config.allow_anonymous = fragment.allow_anonymous;
    config.listen = std::move(fragment.listen);
    config.auth = std::move(fragment.auth);
    config.pidfile = std::move(fragment.pidfile);
    config.servicedirs = std::move(fragment.servicedirs);
    config.servicehelper = std::move(fragment.servicehelper);
    config.limits = fragment.limits;
    config.conf_dirs = std::move(fragment.conf_dirs);
    config.selinux_associations = std::move(fragment.selinux);
    config.apparmor_mode = std::move(fragment.apparmor_mode);
    config.files_read = std::move(loader.files_read);
    config.unsupported = std::move(loader.unsupported);
    config.warnings = std::move(loader.warnings);

    auto policy = std::make_shared<Policy>();
    for (ScopedRule& r : fragment.rules) {
        switch (r.scope) {
        case Scope::default_context: policy->append_default(std::move(r.rule)); break;
        case Scope::mandatory: policy->append_mandatory(std::move(r.rule)); break;
        case Scope::user: policy->append_user(uid_t(r.id), std::move(r.rule)); break;
        case Scope::group: policy->append_group(gid_t(r.id), std::move(r.rule)); break;
        case Scope::console: policy->append_console(r.id != 0, std::move(r.rule)); break;
        case Scope::ignored: break;
        }
    }
    config.policy = std::move(policy);
    return config;
}

}  // namespace

Config load_config_file(const std::string& path, const LoadOptions& options)
{
    Loader loader(options);
    Fragment fragment = loader.load_file(path, Limits{}, true);
    return assemble(std::move(fragment), std::move(loader));
}

Config load_config_string(std::string_view xml, const std::string& virtual_path,
                          const LoadOptions& options)
{
    Loader loader(options);
    Fragment fragment = loader.load_text(xml, virtual_path, Limits{}, true);
    return assemble(std::move(fragment), std::move(loader));
}

}  // namespace kdbus::policy
