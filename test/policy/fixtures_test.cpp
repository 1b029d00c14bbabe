/* Debian's dbus-tests parser fixtures and the real system configuration:
 * whatever dbus-daemon 1.14 accepts loads, whatever it refuses is refused
 * with its error text. */
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>

#include "policy/config.hpp"

namespace fs = std::filesystem;
using namespace kdbus::policy;

namespace {

const fs::path kData = DBUS_TEST_DATA;

std::vector<fs::path> conf_files(const fs::path& dir)
{
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(dir)) {
        if (entry.path().extension() == ".conf")
            files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

void skip_without_fixtures()
{
    if (!fs::exists(kData))
        GTEST_SKIP() << "dbus-tests is not installed (" << kData << ")";
}

}  // namespace

TEST(DbusFixtures, ValidConfigFilesLoad)
{
    skip_without_fixtures();
    for (const char* sub : {"valid-config-files", "valid-config-files-system"}) {
        const auto files = conf_files(kData / sub);
        ASSERT_FALSE(files.empty()) << sub;
        for (const auto& file : files) {
            SCOPED_TRACE(file.string());
            try {
                Config c = load_config_file(file.string());
                EXPECT_FALSE(c.listen.empty());
                ASSERT_NE(c.policy, nullptr);
            } catch (const ConfigError& e) {
                ADD_FAILURE() << e.what();
            }
        }
    }
}

/* Every invalid fixture, with the text dbus-daemon 1.14 prints for it
 * (measured; ../shared/conformance/REQUIREMENTS.md). */
TEST(DbusFixtures, InvalidConfigFilesAreRefusedWithDbusDaemonsReason)
{
    skip_without_fixtures();
    const std::map<std::string, std::string> expected = {
        {"apparmor-bad-attribute.conf",
         "Attribute \"enforcement_style\" is invalid on <apparmor> element in this context"},
        {"apparmor-bad-mode.conf",
         "Mode attribute on <apparmor> must have value \"required\", \"enabled\" or \"disabled\", "
         "not \"plaintive\""},
        {"bad-attribute-2.conf", "Attribute \"carefully\" is invalid on <listen> element in this context"},
        {"bad-attribute.conf", "Attribute \"wildebeest\" is invalid on <limit> element in this context"},
        {"bad-element.conf", "Element <bees> not allowed inside <busconfig> in configuration file"},
        {"bad-limit.conf",
         "<limit name=\"max_names_per_connection\"> element has invalid value (could not parse as "
         "integer)"},
        {"non-numeric-limit.conf",
         "<limit name=\"max_names_per_connection\"> element has invalid value (could not parse as "
         "integer)"},
        {"badselinux-1.conf", "selinux_root_relative attribute must have value \"yes\" or \"no\""},
        {"badselinux-2.conf", "if_selinux_enabled attribute must have value \"yes\" or \"no\""},
        {"circular-1.conf", "Circular inclusion of file '"},
        {"circular-2.conf", "Circular inclusion of file '"},
        {"circular-3.conf", "Circular inclusion of file '"},
        {"double-attribute.conf", "line 3, column 35: duplicate attribute"},
        {"impossible-send.conf",
         "Rule with send_broadcast=\"true\" and send_destination=\"com.example.Bees\" cannot match "
         "anything"},
        {"limit-no-name.conf", "<limit> element must have a \"name\" attribute"},
        {"ludicrous-limit.conf", "<limit name=\"max_names_per_connection\"> value is too large"},
        {"negative-limit.conf", "<limit name=\"max_names_per_connection\"> must be a positive number"},
        {"not-well-formed.conf", "line 4, column 19: mismatched tag"},
        {"policy-bad-at-console.conf",
         "Unknown value \"somewhere in the vicinity\" for at_console in message bus configuration file"},
        {"policy-bad-attribute.conf", "Attribute \"hat\" is invalid on <policy> element in this context"},
        {"policy-bad-context.conf",
         "context attribute on <policy> must have the value \"default\" or \"mandatory\", not "
         "\"apropos of nothing\""},
        {"policy-bad-rule-attribute.conf",
         "Attribute \"species\" is invalid on <allow> element in this context"},
        {"policy-contradiction.conf",
         "<policy> element must have exactly one of (context|user|group|at_console) attributes"},
        {"policy-no-attributes.conf",
         "<policy> element must have exactly one of (context|user|group|at_console) attributes"},
        {"policy-member-no-path.conf",
         "On element <deny>, if you specify a member you must specify an interface or a path."},
        {"policy-mixed.conf",
         "Invalid combination of attributes on element <allow>: own, own_prefix, user, group and "
         "the message-related attributes cannot be combined"},
        {"policy-no-rule-attribute.conf", "Element <allow> must have one or more attributes"},
        {"send-and-receive.conf",
         "Invalid combination of attributes on element <allow>: send and receive attributes cannot "
         "be combined"},
        {"truncated-file.conf", "line 9, column 2: unclosed token"},
        {"unknown-limit.conf", "There is no limit called \"max_bees\""},
    };
    const auto files = conf_files(kData / "invalid-config-files");
    ASSERT_EQ(files.size(), expected.size());
    for (const auto& file : files) {
        SCOPED_TRACE(file.string());
        auto it = expected.find(file.filename().string());
        ASSERT_NE(it, expected.end()) << "a fixture this test does not know";
        try {
            load_config_file(file.string());
            ADD_FAILURE() << "accepted";
        } catch (const ConfigError& e) {
            EXPECT_NE(e.reason().find(it->second), std::string::npos) << e.what();
            EXPECT_EQ(std::string(e.what()).rfind(e.file(), 0), 0u) << "what() starts with the file";
        }
    }
}

TEST(DbusFixtures, ErrorsNameTheFileAndLine)
{
    skip_without_fixtures();
    const fs::path file = kData / "invalid-config-files" / "policy-bad-rule-attribute.conf";
    try {
        load_config_file(file.string());
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), file.string());
        EXPECT_EQ(e.line(), 4u);
        EXPECT_EQ(std::string(e.what()), file.string() + ":4: " + e.reason());
    }
}

/* dbus-daemon's config-parser test: the files of each equiv-config-files
 * subdirectory describe the same bus. */
TEST(DbusFixtures, EquivalentConfigFilesAgree)
{
    skip_without_fixtures();
    for (const auto& dir : fs::directory_iterator(kData / "equiv-config-files")) {
        const auto files = conf_files(dir.path());
        ASSERT_GE(files.size(), 2u) << dir.path();
        const Config first = load_config_file(files[0].string());
        for (size_t i = 1; i < files.size(); ++i) {
            SCOPED_TRACE(files[i].string());
            const Config other = load_config_file(files[i].string());
            EXPECT_EQ(other.user, first.user);
            EXPECT_EQ(other.listen, first.listen);
            EXPECT_EQ(other.auth, first.auth);
            EXPECT_EQ(other.servicedirs, first.servicedirs);
            EXPECT_EQ(other.pidfile, first.pidfile);
            EXPECT_EQ(other.fork, first.fork);
            EXPECT_EQ(other.limits.max_names_per_connection, first.limits.max_names_per_connection);
            EXPECT_EQ(other.limits.auth_timeout, first.limits.auth_timeout);
            EXPECT_EQ(other.policy->rule_count(), first.policy->rule_count());
        }
    }
}

TEST(DbusFixtures, EntitiesAreDecoded)
{
    skip_without_fixtures();
    const Config c = load_config_file((kData / "valid-config-files" / "entities.conf").string());
    ASSERT_FALSE(c.listen.empty());
    EXPECT_EQ(c.listen[0], "unix:path=/foo/<bar>");
    ASSERT_FALSE(c.servicedirs.empty());
    EXPECT_EQ(c.servicedirs.back().path, "/usr/&share/foo");
    /* <includedir>basic.&#100;</includedir> is basic.d next to the file */
    ASSERT_EQ(c.conf_dirs.size(), 1u);
    EXPECT_EQ(c.conf_dirs[0], (kData / "valid-config-files" / "basic.d").string());
}

/* dbus-daemon's own check-own-rules test (bus/config-parser.c). */
TEST(DbusFixtures, CheckOwnRules)
{
    skip_without_fixtures();
    const Config c = load_config_file((kData / "valid-config-files" / "check-own-rules.conf").string());
    const ConnectionPolicy cp(c.policy, Peer{1000, {1000}, false});
    EXPECT_FALSE(cp.can_own("org.freedesktop"));
    EXPECT_FALSE(cp.can_own("org.freedesktop.ManySystem"));
    EXPECT_TRUE(cp.can_own("org.freedesktop.ManySystems"));
    EXPECT_TRUE(cp.can_own("org.freedesktop.ManySystems.foo"));
    EXPECT_TRUE(cp.can_own("org.freedesktop.ManySystems.foo.bar"));
    EXPECT_FALSE(cp.can_own("org.freedesktop.ManySystems2"));
    EXPECT_FALSE(cp.can_own("org.freedesktop.ManySystems2.foo"));
    EXPECT_FALSE(cp.can_own("org.freedesktop.ManySystems2.foo.bar"));
}

/* `kdbusd --system` with Debian's own file and every system.d policy
 * installed on this machine. */
TEST(SystemConf, DebianSystemConfLoads)
{
    const fs::path file = "/usr/share/dbus-1/system.conf";
    if (!fs::exists(file))
        GTEST_SKIP() << "no " << file;
    const Config c = load_config_file(file.string());
    EXPECT_EQ(c.type, "system");
    EXPECT_EQ(c.user, "messagebus");
    EXPECT_TRUE(c.fork);
    EXPECT_TRUE(c.syslog);
    EXPECT_EQ(c.pidfile, "/run/dbus/pid");
    EXPECT_EQ(c.listen, std::vector<std::string>{"unix:path=/run/dbus/system_bus_socket"});
    EXPECT_EQ(c.auth, std::vector<std::string>{"EXTERNAL"});
    EXPECT_EQ(c.servicehelper, "/usr/lib/dbus-1.0/dbus-daemon-launch-helper");
    ASSERT_FALSE(c.servicedirs.empty());
    EXPECT_EQ(c.servicedirs[0].path, "/usr/local/share/dbus-1/system-services");
    EXPECT_EQ(c.limits.max_names_per_connection, 512);
    EXPECT_EQ(c.limits.auth_timeout, 30000);

    /* Every file of system.d was read. */
    for (const auto& f : conf_files("/usr/share/dbus-1/system.d"))
        EXPECT_NE(std::find(c.files_read.begin(), c.files_read.end(), f.string()), c.files_read.end())
            << f;

    EXPECT_TRUE(c.policy->allows_user(65534, std::vector<gid_t>{65534}, 100)) << "<allow user=\"*\"/>";
    const ConnectionPolicy nobody(c.policy, Peer{65534, {65534}, false});
    const ConnectionPolicy root(c.policy, Peer{0, {0}, false});
    EXPECT_FALSE(nobody.can_own("org.example.Anything"));

    MessageFacts list_names{MessageType::method_call, "/org/freedesktop/DBus", "org.freedesktop.DBus",
                            "ListNames", {}, "org.freedesktop.DBus", ":1.1", false, 0};
    EXPECT_TRUE(nobody.check_send(list_names, nullptr, false).allowed);
    MessageFacts update_env = list_names;
    update_env.member = "UpdateActivationEnvironment";
    EXPECT_FALSE(nobody.check_send(update_env, nullptr, false).allowed);
    MessageFacts monitor = list_names;
    monitor.interface = "org.freedesktop.DBus.Monitoring";
    monitor.member = "BecomeMonitor";
    EXPECT_FALSE(nobody.check_send(monitor, nullptr, false).allowed);
    EXPECT_TRUE(root.check_send(monitor, nullptr, false).allowed);

    if (fs::exists("/usr/share/dbus-1/system.d/org.freedesktop.login1.conf")) {
        EXPECT_TRUE(root.can_own("org.freedesktop.login1"));
        MessageFacts call{MessageType::method_call, "/org/freedesktop/login1",
                          "org.freedesktop.login1.Manager", "ListSessions", {},
                          "org.freedesktop.login1", ":1.2", false, 0};
        const NameList logind{":1.7", "org.freedesktop.login1"};
        EXPECT_TRUE(nobody.check_send(call, &logind, false).allowed);
        const NameList someone{":1.8", "org.example.Other"};
        EXPECT_FALSE(nobody.check_send(call, &someone, false).allowed);
    }
}

/* kdbusd's shipped defaults load (from the source tree, as built in). */
TEST(SystemConf, ShippedDefaultsLoad)
{
    for (const char* name : {"session.conf", "system.conf"}) {
        const std::string file = std::string(KDBUSD_SOURCE_DIR) + "/conf/" + name;
        SCOPED_TRACE(file);
        const Config c = load_config_file(file);
        EXPECT_EQ(c.auth, std::vector<std::string>{"EXTERNAL"});
        EXPECT_FALSE(c.listen.empty());
    }
    const Config session = load_config_file(std::string(KDBUSD_SOURCE_DIR) + "/conf/session.conf");
    EXPECT_EQ(session.type, "session");
    EXPECT_EQ(session.listen, std::vector<std::string>{"unix:tmpdir=/tmp"});
    EXPECT_EQ(session.limits.max_names_per_connection, 50000);
    const ConnectionPolicy anyone(session.policy, Peer{1000, {1000}, false});
    EXPECT_TRUE(anyone.can_own("org.example.Anything"));
}
