/* Configuration loading: elements, includes, limits, service directories,
 * errors */
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace kdbus::policy;
using namespace kdbus::policy::test;

namespace {

class ConfigFiles : public ::testing::Test {
protected:
    void SetUp() override
    {
        std::string templ = (fs::temp_directory_path() / "kdbus-policy-XXXXXX").string();
        ASSERT_NE(mkdtemp(templ.data()), nullptr);
        dir_ = templ;
    }
    void TearDown() override { fs::remove_all(dir_); }

    std::string write(const std::string& name, const std::string& text)
    {
        const fs::path path = dir_ / name;
        fs::create_directories(path.parent_path());
        std::ofstream(path) << text;
        return path.string();
    }
    static std::string busconfig(const std::string& body) { return "<busconfig>\n" + body + "\n</busconfig>\n"; }

    fs::path dir_;
};

}  // namespace

TEST(ConfigElements, EverySimpleElement)
{
    const Config c = load(
        "<type>system</type><user>messagebus</user><fork/><keep_umask/><syslog/>"
        "<allow_anonymous/><listen>unix:path=/run/x</listen><auth>EXTERNAL</auth>"
        "<auth>ANONYMOUS</auth><pidfile>/run/x.pid</pidfile><servicehelper>helper</servicehelper>");
    EXPECT_EQ(c.type, "system");
    EXPECT_EQ(c.user, "messagebus");
    EXPECT_TRUE(c.fork && c.keep_umask && c.syslog && c.allow_anonymous);
    EXPECT_EQ(c.listen, (std::vector<std::string>{"unix:tmpdir=/tmp", "unix:path=/run/x"}));
    EXPECT_EQ(c.auth, (std::vector<std::string>{"EXTERNAL", "ANONYMOUS"}));
    EXPECT_EQ(c.pidfile, "/run/x.pid");
    EXPECT_EQ(c.servicehelper, "/test/helper") << "relative to the file's directory";
}

TEST(ConfigElements, DefaultsWhenAbsent)
{
    const Config c = load("");
    EXPECT_EQ(c.type, "");
    EXPECT_FALSE(c.user);
    EXPECT_FALSE(c.fork || c.keep_umask || c.syslog || c.allow_anonymous);
    EXPECT_TRUE(c.auth.empty());
    EXPECT_EQ(c.limits.max_incoming_bytes, 133169152);
    EXPECT_EQ(c.limits.max_message_size, 33554432);
    EXPECT_EQ(c.limits.max_message_unix_fds, 16);
    EXPECT_EQ(c.limits.max_incoming_unix_fds, 64);
    EXPECT_EQ(c.limits.service_start_timeout, 25000);
    EXPECT_EQ(c.limits.auth_timeout, 30000);
    EXPECT_EQ(c.limits.pending_fd_timeout, 150000);
    EXPECT_EQ(c.limits.max_completed_connections, 2048);
    EXPECT_EQ(c.limits.max_incomplete_connections, 64);
    EXPECT_EQ(c.limits.max_connections_per_user, 256);
    EXPECT_EQ(c.limits.max_pending_service_starts, 512);
    EXPECT_EQ(c.limits.max_names_per_connection, 512);
    EXPECT_EQ(c.limits.max_match_rules_per_connection, 512);
    EXPECT_EQ(c.limits.max_replies_per_connection, 128);
    EXPECT_EQ(c.limits.reply_timeout, -1);
    EXPECT_FALSE(c.limits.has_reply_timeout());
}

TEST(ConfigElements, TextIsTrimmed)
{
    const Config c = load("<listen>\n   unix:path=/x  \n</listen>");
    EXPECT_EQ(c.listen.back(), "unix:path=/x");
}

TEST(ConfigElements, Limits)
{
    const Config c = load(
        "<limit name=\"max_names_per_connection\">4</limit>"
        "<limit name=\"reply_timeout\">5000</limit>"
        "<limit name=\"max_incoming_bytes\">5000000000</limit>"
        "<limit name=\"max_containers\">3</limit>"
        "<limit name=\"max_names_per_connection\">5</limit>");
    EXPECT_EQ(c.limits.max_names_per_connection, 5) << "the last one wins";
    EXPECT_EQ(c.limits.reply_timeout, 5000);
    EXPECT_TRUE(c.limits.has_reply_timeout());
    EXPECT_EQ(c.limits.max_incoming_bytes, 5000000000) << "byte quotas may exceed an int";
    EXPECT_EQ(c.limits.max_containers, 3);
    EXPECT_THROW(load("<limit name=\"reply_timeout\">5000000000</limit>"), ConfigError);
    EXPECT_THROW(load("<limit name=\"max_bees\">1</limit>"), ConfigError);
    EXPECT_THROW(load("<limit name=\"auth_timeout\"></limit>"), ConfigError);
}

TEST(ConfigElements, KdbusQuotaLimits)
{
    const Config defaults = load("");
    EXPECT_EQ(defaults.limits.max_queued_messages_per_user, 256) << "kdbus KDBUS_CONN_MAX_MSGS";
    EXPECT_EQ(defaults.limits.max_queued_unix_fds_per_user, 16);
    EXPECT_EQ(defaults.limits.max_queued_bytes_per_user, 128ll * 1024 * 1024);
    const Config c = load(
        "<limit name=\"max_queued_messages_per_user\">10</limit>"
        "<limit name=\"max_queued_unix_fds_per_user\">2</limit>"
        "<limit name=\"max_queued_bytes_per_user\">5000000000</limit>");
    EXPECT_EQ(c.limits.max_queued_messages_per_user, 10);
    EXPECT_EQ(c.limits.max_queued_unix_fds_per_user, 2);
    EXPECT_EQ(c.limits.max_queued_bytes_per_user, 5000000000) << "a byte bound may exceed an int";
}

TEST(ConfigElements, PerUserLimitsAndTheirValuesForOneUid)
{
    const Config defaults = load("");
    EXPECT_EQ(defaults.limits.max_names_per_user, -1) << "unset: the daemon derives it";
    EXPECT_EQ(defaults.limits.max_match_rules_per_user, -1);
    EXPECT_EQ(defaults.limits.max_replies_per_user, -1);
    EXPECT_TRUE(defaults.limits.per_uid.empty());

    const Config c = load(
        "<limit name=\"max_match_rules_per_user\">100</limit>"
        "<limit name=\"max_match_rules_per_user\" user=\"alice\">5</limit>"
        "<limit name=\"max_connections_per_user\" user=\"1001\">2</limit>"
        "<limit name=\"max_queued_bytes_per_user\" user=\"bob\">5000000000</limit>"
        "<limit name=\"max_names_per_user\" user=\"nobody-here\">1</limit>");
    EXPECT_EQ(c.limits.max_match_rules_per_user, 100) << "a user= limit leaves everyone's alone";
    ASSERT_EQ(c.limits.per_uid.size(), 3u) << "an unknown user's limit is dropped";
    EXPECT_EQ(c.limits.per_uid[0].uid, 1000u);
    EXPECT_TRUE(c.limits.per_uid[0].field == &Limits::max_match_rules_per_user);
    EXPECT_EQ(c.limits.per_uid[0].value, 5);
    EXPECT_EQ(c.limits.per_uid[1].uid, 1001u);
    EXPECT_TRUE(c.limits.per_uid[1].field == &Limits::max_connections_per_user);
    EXPECT_EQ(c.limits.per_uid[2].value, 5000000000);
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find("nobody-here"), std::string::npos) << c.warnings[0];

    // Only a per-user limit can be one uid's.
    EXPECT_THROW(load("<limit name=\"max_message_size\" user=\"alice\">1</limit>"), ConfigError);
    EXPECT_THROW(load("<limit name=\"max_names_per_user\" group=\"wheel\">1</limit>"), ConfigError);
}

TEST(ConfigElements, ListenIsRequired)
{
    EXPECT_THROW(load_config_string("<busconfig/>", "/t.conf"), ConfigError);
    LoadOptions o;
    o.require_listen = false;
    EXPECT_NO_THROW(load_config_string("<busconfig/>", "/t.conf", o));
}

TEST(ConfigElements, SelinuxAndApparmorAreNotedAsUnsupported)
{
    const Config c = load(
        "<selinux><associate own=\"org.example.A\" context=\"a_t\"/></selinux>"
        "<apparmor mode=\"enabled\"/>");
    ASSERT_EQ(c.selinux_associations.size(), 1u);
    EXPECT_EQ(c.selinux_associations[0].second, "a_t");
    EXPECT_EQ(c.apparmor_mode, "enabled");
    EXPECT_EQ(c.unsupported.size(), 2u);
    EXPECT_THROW(load("<selinux><associate own=\"x\"/></selinux>"), ConfigError);
    EXPECT_THROW(load("<selinux><bees/></selinux>"), ConfigError);
}

TEST(ConfigElements, RuleValidation)
{
    auto refuses = [](const std::string& rule, const std::string& text) {
        try {
            load("<policy context=\"default\">" + rule + "</policy>");
            ADD_FAILURE() << rule << " accepted";
        } catch (const ConfigError& e) {
            EXPECT_NE(e.reason().find(text), std::string::npos) << e.what();
        }
    };
    refuses("<allow send_type=\"bogus\"/>", "Bad message type \"bogus\"");
    refuses("<allow send_destination=\"a.b\" eavesdrop=\"maybe\"/>", "Bad value \"maybe\" for eavesdrop");
    refuses("<allow send_destination=\"a\" send_destination_prefix=\"a\"/>",
            "send_destination cannot be combined with send_destination_prefix");
    refuses("<allow send_error=\"a.E\" send_interface=\"a.b\"/>",
            "send_error cannot be combined with send_member or send_interface");
    refuses("<allow receive_error=\"a.E\" receive_interface=\"a.b\"/>",
            "receive_error cannot be combined");
    refuses("<allow send_destination=\"*\" max_fds=\"-1\"/>",
            "Bad value \"-1\" for max_fds attribute, must be an integer in range 0 to 33554432 inclusive");
    refuses("<allow own=\"a\" own_prefix=\"b\"/>", "cannot be combined");
    refuses("<allow eavesdrop=\"true\" own=\"a\"/>", "cannot be combined");
    refuses("<allow send_member=\"*\"/>", "if you specify a member");
    refuses("<bees/>", "Element <bees> not allowed inside <policy>");
    /* Accepted combinations. */
    EXPECT_NO_THROW(load("<policy context=\"default\"><allow send_destination=\"a.b\" "
                         "send_interface=\"a.I\" send_member=\"M\" send_type=\"method_call\" "
                         "send_path=\"/\" send_requested_reply=\"false\" eavesdrop=\"true\" "
                         "min_fds=\"1\" max_fds=\"4\" log=\"true\"/></policy>"));
    EXPECT_NO_THROW(load("<policy context=\"default\"><deny receive_sender=\"a.b\" "
                         "receive_interface=\"a.I\" receive_member=\"M\" receive_path=\"/\" "
                         "receive_type=\"signal\" receive_requested_reply=\"true\" "
                         "eavesdrop=\"true\"/></policy>"));
}

TEST(ConfigElements, StandardSessionServicedirs)
{
    LoadOptions o = fake_users();
    o.getenv = [](std::string_view name) -> std::optional<std::string> {
        if (name == "XDG_RUNTIME_DIR")
            return "/run/user/1000";
        if (name == "HOME")
            return "/home/alice";
        if (name == "XDG_DATA_DIRS")
            return "/opt/share:/usr/share";
        return std::nullopt;
    };
    const Config c = load("<standard_session_servicedirs/><servicedir>/usr/share/dbus-1/services</servicedir>", o);
    const std::vector<ServiceDir> expected = {
        {"/run/user/1000/dbus-1/services", true},
        {"/home/alice/.local/share/dbus-1/services", false},
        {"/opt/share/dbus-1/services", false},
        {"/usr/share/dbus-1/services", false},
    };
    EXPECT_EQ(c.servicedirs, expected) << "deduplicated, in order";

    o.getenv = [](std::string_view name) -> std::optional<std::string> {
        if (name == "XDG_DATA_HOME")
            return "/data";
        return std::nullopt;
    };
    const Config d = load("<standard_session_servicedirs/>", o);
    const std::vector<ServiceDir> defaults = {
        {"/data/dbus-1/services", false},
        {"/usr/local/share/dbus-1/services", false},
        {"/usr/share/dbus-1/services", false},
    };
    EXPECT_EQ(d.servicedirs, defaults);
}

TEST(ConfigElements, StandardSystemServicedirs)
{
    const Config c = load("<standard_system_servicedirs/>");
    const std::vector<ServiceDir> expected = {
        {"/usr/local/share/dbus-1/system-services", false},
        {"/usr/share/dbus-1/system-services", false},
        {"/lib/dbus-1/system-services", false},
    };
    EXPECT_EQ(c.servicedirs, expected);
}

TEST_F(ConfigFiles, IncludeIsRelativeToTheIncludingFile)
{
    write("sub/part.conf", busconfig("<user>alice</user><listen>unix:path=/b</listen>"
                                     "<servicedir>services</servicedir>"
                                     "<policy context=\"default\"><allow own=\"org.example.B\"/></policy>"));
    const std::string top = write("top.conf", busconfig(
        "<user>root</user><listen>unix:path=/a</listen>"
        "<policy context=\"default\"><allow own=\"*\"/><deny own=\"org.example.B\"/></policy>"
        "<include>sub/part.conf</include><listen>unix:path=/c</listen>"));
    const Config c = load_config_file(top, fake_users());
    EXPECT_EQ(c.user, "alice") << "the included file's <user> overrides";
    EXPECT_EQ(c.listen, (std::vector<std::string>{"unix:path=/a", "unix:path=/b", "unix:path=/c"}));
    ASSERT_EQ(c.servicedirs.size(), 1u);
    EXPECT_EQ(c.servicedirs[0].path, (dir_ / "sub" / "services").string());
    EXPECT_TRUE(ConnectionPolicy(c.policy, Peer{1000, {1000}, false}).can_own("org.example.B"))
        << "included rules follow the includer's earlier rules";
    EXPECT_EQ(c.files_read, (std::vector<std::string>{top, (dir_ / "sub/part.conf").string()}));
}

TEST_F(ConfigFiles, IncludedLimitsCarryOver)
{
    write("limits.conf", busconfig("<limit name=\"max_names_per_connection\">7</limit>"));
    const std::string top = write("top.conf", busconfig(
        "<listen>unix:path=/a</listen><limit name=\"max_replies_per_connection\">3</limit>"
        "<include>limits.conf</include>"));
    const Config c = load_config_file(top);
    EXPECT_EQ(c.limits.max_names_per_connection, 7);
    EXPECT_EQ(c.limits.max_replies_per_connection, 3);
}

TEST_F(ConfigFiles, MissingIncludes)
{
    const std::string ok = write("ok.conf", busconfig(
        "<listen>unix:path=/a</listen><include ignore_missing=\"yes\">nonexistent.conf</include>"
        "<include if_selinux_enabled=\"yes\" selinux_root_relative=\"yes\">contexts/dbus_contexts</include>"
        "<includedir>nonexistent.d</includedir>"));
    EXPECT_NO_THROW(load_config_file(ok));
    const std::string bad = write("bad.conf", busconfig(
        "<listen>unix:path=/a</listen>\n<include>nonexistent.conf</include>"));
    try {
        load_config_file(bad);
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), bad);
        EXPECT_EQ(e.line(), 3u);
        EXPECT_NE(e.reason().find("Failed to open"), std::string::npos) << e.what();
    }
    EXPECT_THROW(load_config_file((dir_ / "absent.conf").string()), ConfigError);
}

TEST_F(ConfigFiles, ErrorsInIncludedFilesNameThatFile)
{
    const std::string part = write("part.conf", "<busconfig>\n\n<bees/>\n</busconfig>\n");
    const std::string top = write("top.conf", busconfig("<listen>unix:path=/a</listen><include>part.conf</include>"));
    try {
        load_config_file(top);
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.file(), part);
        EXPECT_EQ(e.line(), 3u);
        EXPECT_EQ(std::string(e.what()), part + ":3: Element <bees> not allowed inside <busconfig> in configuration file");
    }
}

TEST_F(ConfigFiles, IncludedirReadsConfFilesInOrderAndSkipsBrokenOnes)
{
    write("conf.d/20-b.conf", busconfig("<policy context=\"default\"><deny own=\"org.example.A\"/></policy>"));
    write("conf.d/10-a.conf", busconfig("<policy context=\"default\"><allow own=\"org.example.A\"/></policy>"));
    write("conf.d/30-broken.conf", busconfig("<policy context=\"default\"><allow own=\"org.example.C\"/>"
                                             "<allow species=\"stoat\"/></policy><user>evil</user>"));
    write("conf.d/README", "not a .conf file <");
    const std::string top = write("top.conf", busconfig(
        "<listen>unix:path=/a</listen><includedir>conf.d</includedir>"));
    const Config c = load_config_file(top, fake_users());
    const ConnectionPolicy p(c.policy, Peer{1000, {1000}, false});
    EXPECT_FALSE(p.can_own("org.example.A")) << "20-b.conf comes after 10-a.conf";
    EXPECT_FALSE(p.can_own("org.example.C")) << "nothing of the broken file applies";
    EXPECT_FALSE(c.user);
    ASSERT_EQ(c.warnings.size(), 1u);
    EXPECT_NE(c.warnings[0].find("30-broken.conf"), std::string::npos);
    EXPECT_EQ(c.conf_dirs, std::vector<std::string>{(dir_ / "conf.d").string()});
}

TEST_F(ConfigFiles, CircularInclusion)
{
    write("a.conf", busconfig("<include>b.conf</include>"));
    write("b.conf", busconfig("<include>a.conf</include>"));
    const std::string top = write("top.conf", busconfig("<listen>unix:path=/a</listen><include>a.conf</include>"));
    try {
        load_config_file(top);
        FAIL() << "accepted";
    } catch (const ConfigError& e) {
        EXPECT_EQ(e.reason(), "Circular inclusion of file '" + (dir_ / "a.conf").string() + "'");
    }
}

TEST_F(ConfigFiles, SyslogOfIncludedFilesIsIgnoredAsDbusDaemonDoes)
{
    write("part.conf", busconfig("<syslog/><fork/>"));
    const std::string top = write("top.conf", busconfig("<listen>unix:path=/a</listen><include>part.conf</include>"));
    const Config c = load_config_file(top);
    EXPECT_FALSE(c.syslog);
    EXPECT_TRUE(c.fork);
}

TEST(ConfigLoading, IsPure)
{
    /* Two loads of the same text are independent values. */
    const Config a = load("<policy context=\"default\"><allow own=\"*\"/></policy>");
    const Config b = load("<policy context=\"default\"><allow own=\"*\"/></policy>");
    EXPECT_NE(a.policy, b.policy);
    EXPECT_EQ(a.policy->rule_count(), 1u);
    EXPECT_EQ(b.policy->rule_count(), 1u);
}
