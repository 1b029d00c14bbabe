#include "daemon/service_file.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace kdbus::daemon {
namespace {

namespace fs = std::filesystem;

TEST(ServiceFile, ParsesTheServiceSection) {
    std::string err;
    auto s = parse_service_file(
        "# comment\n[D-BUS Service]\nName=com.example.Foo\nExec=/usr/bin/foo --bar\nUser=nobody\n"
        "SystemdService=foo.service\n\n[Other]\nName=ignored\n",
        "/x/com.example.Foo.service", &err);
    ASSERT_TRUE(s) << err;
    EXPECT_EQ(s->name, "com.example.Foo");
    EXPECT_EQ(s->exec, "/usr/bin/foo --bar");
    EXPECT_EQ(s->user, "nobody");
    EXPECT_EQ(s->systemd_service, "foo.service");
}

TEST(ServiceFile, RejectsWhatDbusDaemonRejects) {
    std::string err;
    EXPECT_FALSE(parse_service_file("[D-BUS Service]\nExec=/bin/true\n", "f", &err));
    EXPECT_NE(err.find("Name"), std::string::npos);
    EXPECT_FALSE(parse_service_file("[D-BUS Service]\nName=a.b\n", "f", &err));
    EXPECT_NE(err.find("Exec"), std::string::npos);
    EXPECT_FALSE(parse_service_file("Name=a.b\nExec=x\n", "f", &err));
    EXPECT_FALSE(parse_service_file("[D-BUS Service]\nName=a.b\nName=c.d\nExec=x\n", "f", &err));
    EXPECT_FALSE(parse_service_file("[D-BUS Service]\nName=:1.5\nExec=x\n", "f", &err));
    EXPECT_FALSE(parse_service_file("[D-BUS Service]\nName=nodots\nExec=x\n", "f", &err));
    EXPECT_FALSE(parse_service_file("[Other]\nName=a.b\nExec=x\n", "f", &err));
    EXPECT_FALSE(parse_service_file("[D-BUS Service]\nName=a.b\nExec=x\nSystemdService=\xff.service\n", "f", &err));
    EXPECT_NE(err.find("invalid UTF-8"), std::string::npos) << err;
}

TEST(ServiceFile, SplitsExecLinesLikeDbusShell) {
    std::string err;
    auto argv = split_command_line(R"(/bin/svc -test "that" 'we get' back --what "we put in")", &err);
    ASSERT_TRUE(argv) << err;
    EXPECT_EQ(*argv, (std::vector<std::string>{"/bin/svc", "-test", "that", "we get", "back", "--what",
                                                "we put in"}));
    argv = split_command_line(R"(a\ b "c\"d" 'e\f' g#h # comment)", &err);
    ASSERT_TRUE(argv) << err;
    EXPECT_EQ(*argv, (std::vector<std::string>{"a b", "c\"d", "e\\f", "g#h"}));
    EXPECT_FALSE(split_command_line(R"(/bin/svc "this should 'fail' because)", &err));
    EXPECT_NE(err.find("Text ended before matching quote was found for \""), std::string::npos);
    EXPECT_FALSE(split_command_line("   ", &err));
    EXPECT_EQ(err, "Text was empty (or contained only whitespace)");
}

class ServiceDirs : public ::testing::Test {
protected:
    void SetUp() override {
        root = fs::temp_directory_path() / ("kdbusd-service-dirs-" + std::to_string(::getpid()));
        fs::create_directories(root / "a");
        fs::create_directories(root / "b");
    }
    void TearDown() override { fs::remove_all(root); }
    void write(const fs::path& p, const std::string& name, const std::string& exec) {
        std::ofstream(p) << "[D-BUS Service]\nName=" << name << "\nExec=" << exec << "\n";
    }
    fs::path root;
};

TEST_F(ServiceDirs, FirstDirectoryWinsAndBrokenFilesAreSkipped) {
    write(root / "a" / "com.example.One.service", "com.example.One", "/bin/one-a");
    write(root / "b" / "com.example.One.service", "com.example.One", "/bin/one-b");
    write(root / "b" / "other-name.service", "com.example.Two", "/bin/two");
    std::ofstream(root / "b" / "broken.service") << "not a service file\n";
    std::ofstream(root / "b" / "not-a-service.txt") << "[D-BUS Service]\nName=com.example.Three\nExec=x\n";
    std::vector<std::string> warnings;
    auto table = load_service_files({{(root / "a").string(), false}, {(root / "b").string(), false},
                                     {(root / "missing").string(), false}},
                                    &warnings);
    ASSERT_EQ(table.size(), 2u);
    EXPECT_EQ(table.at("com.example.One").exec, "/bin/one-a");
    EXPECT_EQ(table.at("com.example.Two").exec, "/bin/two");
    EXPECT_EQ(warnings.size(), 2u);  // the duplicate and the broken file
}

TEST_F(ServiceDirs, TransientDirectoriesNeedStrictNames) {
    write(root / "a" / "com.example.Good.service", "com.example.Good", "/bin/good");
    write(root / "a" / "misnamed.service", "com.example.Bad", "/bin/bad");
    std::vector<std::string> warnings;
    auto table = load_service_files({{(root / "a").string(), true}}, &warnings);
    EXPECT_EQ(table.size(), 1u);
    EXPECT_TRUE(table.count("com.example.Good"));
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_NE(warnings[0].find("should have been named \"com.example.Bad.service\""), std::string::npos);
}

}  // namespace
}  // namespace kdbus::daemon
