#include <sys/stat.h>

#include <filesystem>

#include "fovea/io/atomic_file.h"
#include "io_test_util.h"

using namespace fovea::io;
using fovea_test::ScratchDir;

namespace {

size_t count_files(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    (void)e;
    ++n;
  }
  return n;
}

}  // namespace

TEST(AtomicFile, WriteCreatesAndReplaces) {
  ScratchDir dir;
  const std::string path = dir.file("out.bin");
  write_file_atomic(path, std::string("first\0bytes", 11));
  EXPECT_EQ(read_file(path), std::string("first\0bytes", 11));
  write_file_atomic(path, "second");
  EXPECT_EQ(read_file(path), "second");
  EXPECT_EQ(count_files(dir.path()), 1u);  // no temporary left behind
}

TEST(AtomicFile, FileModeFollowsUmask) {
  ScratchDir dir;
  const std::string path = dir.file("mode.txt");
  write_file_atomic(path, "x");
  const mode_t mask = ::umask(0);
  ::umask(mask);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0666 & ~mask);
}

TEST(AtomicFile, OutputAppearsOnlyOnCommit) {
  ScratchDir dir;
  const std::string path = dir.file("report.csv");
  write_file_atomic(path, "old");
  {
    AtomicOutput out(path);
    out.stream() << "new content";
    EXPECT_EQ(read_file(path), "old");  // not yet visible
    EXPECT_EQ(count_files(dir.path()), 2u);
    out.commit();
  }
  EXPECT_EQ(read_file(path), "new content");
  EXPECT_EQ(count_files(dir.path()), 1u);
}

TEST(AtomicFile, UncommittedOutputLeavesTargetUntouched) {
  ScratchDir dir;
  const std::string path = dir.file("model.safetensors");
  write_file_atomic(path, "old");
  try {
    AtomicOutput out(path, true);
    out.stream() << "half-written";
    throw std::runtime_error("interrupted");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_file(path), "old");
  EXPECT_EQ(count_files(dir.path()), 1u);

  const std::string fresh = dir.file("never.txt");
  { AtomicOutput out(fresh); }
  EXPECT_FALSE(std::filesystem::exists(fresh));
  EXPECT_EQ(count_files(dir.path()), 1u);
}

TEST(AtomicFile, ErrorsNameTheFile) {
  ScratchDir dir;
  const std::string missing_dir = dir.file("no/such/dir/x.npy");
  fovea_test::expect_error([&] { write_file_atomic(missing_dir, "x"); }, {missing_dir});
  fovea_test::expect_error([&] { AtomicOutput out(missing_dir); }, {missing_dir});
  const std::string missing = dir.file("absent.bin");
  fovea_test::expect_error([&] { read_file(missing); }, {missing, "cannot open"});
  fovea_test::expect_error([&] { read_file(dir.path()); }, {dir.path(), "directory"});
}

TEST(AtomicFile, MakeDirectoriesCreatesParents) {
  ScratchDir dir;
  const std::string nested = dir.file("a/b/c");
  make_directories(nested);
  EXPECT_TRUE(std::filesystem::is_directory(nested));
  make_directories(nested);  // existing: fine
  write_file_atomic(nested + "/f.txt", "x");
  EXPECT_EQ(read_file(nested + "/f.txt"), "x");

  const std::string blocked = nested + "/f.txt/sub";
  fovea_test::expect_error([&] { make_directories(blocked); }, {blocked});
}
