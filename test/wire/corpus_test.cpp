/* libdbus's own message corpus (Debian package dbus-tests): every invalid
 * message must be refused, every valid one accepted. */
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "wire/message.hpp"

using namespace kdbus::wire;
namespace fs = std::filesystem;

namespace {

const fs::path corpus = "/usr/lib/dbus-1.0/installed-tests/dbus/data";

std::vector<fs::path> raw_messages(const char* dir) {
    std::vector<fs::path> files;
    std::error_code ec;
    for (const auto& entry : fs::directory_iterator(corpus / dir, ec))
        if (entry.path().extension() == ".message-raw") files.push_back(entry.path());
    return files;
}

std::vector<uint8_t> read_file(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/* What a connection does with its input: frame, then parse. */
const char* frame_and_parse(const std::vector<uint8_t>& bytes) {
    if (bytes.size() < fixed_header_size) return "short";
    const char* error = "framing";
    size_t length = message_length(std::span(bytes).first<fixed_header_size>(), max_message_size,
                                   &error);
    if (length == 0) return error;
    if (length > bytes.size()) return "truncated";
    Header h;
    return parse_message(std::span(bytes).first(length), h);
}

}  // namespace

TEST(Corpus, InvalidMessagesAreRejected) {
    auto files = raw_messages("invalid-messages");
    if (files.empty()) GTEST_SKIP() << "dbus-tests corpus not installed";
    for (const auto& f : files)
        EXPECT_NE(frame_and_parse(read_file(f)), nullptr) << f;
}

TEST(Corpus, ValidMessagesParse) {
    auto files = raw_messages("valid-messages");
    if (files.empty()) GTEST_SKIP() << "dbus-tests corpus not installed";
    for (const auto& f : files) {
        auto bytes = read_file(f);
        const char* error = frame_and_parse(bytes);
        EXPECT_EQ(error, nullptr) << f << ": " << error;
        // The whole file is one message.
        const char* why = nullptr;
        EXPECT_EQ(message_length(std::span(bytes).first<fixed_header_size>(), max_message_size, &why),
                  bytes.size())
            << f;
    }
}
