#include <ATen/ATen.h>

#include <random>

#include "fovea/io/pickle.h"
#include "io/detail.h"
#include "io_test_util.h"
#include "pickle_builder.h"
#include "pickle_fixtures.h"

using namespace fovea::io;
using fovea_test::expect_error;
using fovea_test::from_hex;
using fovea_test::PickleWriter;
using Kind = PyValue::Kind;

namespace {

const PyValue& at_key(const PyRef& dict, const std::string& key) {
  const PyRef v = dict ? dict->get(key) : nullptr;
  if (!v) throw std::runtime_error("missing key " + key);
  return *v;
}

void check_generic(const PyRef& v) {
  ASSERT_TRUE(v && v->is_dict());
  EXPECT_EQ(v->entries.size(), 20u);
  EXPECT_EQ(at_key(v, "int").as_int(), 7);
  EXPECT_EQ(at_key(v, "neg").as_int(), -300);
  const PyValue& big = at_key(v, "big");
  ASSERT_EQ(big.kind, Kind::Object);
  EXPECT_EQ(big.class_name, "builtins.int");
  ASSERT_EQ(big.args.size(), 1u);
  EXPECT_EQ(big.args[0]->as_string(), "1180591620717411303424");
  EXPECT_EQ(at_key(v, "i64").as_int(), -1099511627776LL);
  EXPECT_EQ(at_key(v, "float").kind, Kind::Float);
  EXPECT_EQ(at_key(v, "float").as_double(), 0.25);
  EXPECT_EQ(at_key(v, "str").as_string(), "h\xc3\xa9llo \xe2\x82\xac\n\\");
  EXPECT_EQ(at_key(v, "bytes").kind, Kind::Bytes);
  EXPECT_EQ(at_key(v, "bytes").text, std::string("\x00\xff" "ab", 4));
  EXPECT_TRUE(at_key(v, "none").is_none());
  EXPECT_EQ(at_key(v, "t").kind, Kind::Bool);
  EXPECT_TRUE(at_key(v, "t").boolean);
  EXPECT_EQ(at_key(v, "f").kind, Kind::Bool);
  EXPECT_FALSE(at_key(v, "f").boolean);

  const PyValue& list = at_key(v, "list");
  ASSERT_EQ(list.kind, Kind::List);
  ASSERT_EQ(list.items.size(), 3u);
  EXPECT_EQ(list.items[0]->as_int(), 1);
  ASSERT_EQ(list.items[1]->kind, Kind::List);
  ASSERT_EQ(list.items[1]->items.size(), 2u);
  EXPECT_EQ(list.items[1]->items[1]->as_int(), 3);
  EXPECT_EQ(list.items[2]->kind, Kind::List);
  EXPECT_TRUE(list.items[2]->items.empty());
  EXPECT_EQ(v->get("shared").get(), v->get("list").get());  // the memo gives the same object back

  const char* tuples[] = {"tup1", "tup2", "tup3", "tupn"};
  for (int n = 0; n < 4; ++n) {
    const PyValue& t = at_key(v, tuples[n]);
    ASSERT_EQ(t.kind, Kind::Tuple) << tuples[n];
    ASSERT_EQ(t.items.size(), static_cast<size_t>(n + 1)) << tuples[n];
    for (int i = 0; i <= n; ++i) EXPECT_EQ(t.items[i]->as_int(), i + 1);
  }
  const PyValue& set = at_key(v, "set");
  ASSERT_EQ(set.kind, Kind::List);
  ASSERT_EQ(set.items.size(), 1u);
  EXPECT_EQ(set.items[0]->as_int(), 5);
  const PyValue& fset = at_key(v, "fset");
  ASSERT_EQ(fset.kind, Kind::List);
  ASSERT_EQ(fset.items.size(), 1u);
  EXPECT_EQ(fset.items[0]->as_int(), 6);

  const PyValue& od = at_key(v, "od");
  ASSERT_EQ(od.kind, Kind::Dict);
  ASSERT_EQ(od.entries.size(), 2u);
  EXPECT_EQ(od.entries[0].first->as_string(), "b");
  EXPECT_EQ(od.entries[0].second->as_int(), 1);
  EXPECT_EQ(od.entries[1].first->as_string(), "a");
  EXPECT_EQ(od.entries[1].second->as_int(), 2);

  const PyValue& obj = at_key(v, "obj");
  ASSERT_EQ(obj.kind, Kind::Object);
  EXPECT_EQ(obj.class_name, "__main__.Foo");
  ASSERT_TRUE(obj.state && obj.state->is_dict());
  EXPECT_EQ(obj.state->get("x")->as_int(), 1);
  EXPECT_EQ(obj.state->get("name")->as_string(), "foo");
}

void check_numpy(const PyRef& v) {
  ASSERT_TRUE(v && v->is_dict());
  auto tensor = [&](const std::string& key) {
    const PyValue& x = at_key(v, key);
    EXPECT_EQ(x.kind, Kind::Tensor) << key << ": " << x.repr();
    return x.tensor;
  };
  EXPECT_TRUE(at::equal(tensor("f32"), at::arange(6, at::kFloat).reshape({2, 3})));
  const at::Tensor fort = tensor("fort");
  EXPECT_TRUE(fort.is_contiguous());
  EXPECT_TRUE(at::equal(fort, at::arange(6, at::kLong).reshape({2, 3})));
  EXPECT_TRUE(at::equal(tensor("be"), at::tensor({1, -2, 300}, at::kInt)));
  EXPECT_TRUE(at::equal(tensor("u16"), at::tensor({1, 65535}, at::kInt)));
  EXPECT_TRUE(at::equal(tensor("b"), fovea_test::bools({1, 0})));
  EXPECT_EQ(tensor("empty").sizes(), (std::vector<int64_t>{0, 3}));
  const at::Tensor zero_d = tensor("zero_d");
  EXPECT_EQ(zero_d.dim(), 0);
  EXPECT_EQ(zero_d.scalar_type(), at::kDouble);
  EXPECT_EQ(zero_d.item<double>(), 3.5);
  EXPECT_EQ(at_key(v, "s64").kind, Kind::Float);
  EXPECT_EQ(at_key(v, "s64").as_double(), 2.5);
  EXPECT_EQ(at_key(v, "si").kind, Kind::Int);
  EXPECT_EQ(at_key(v, "si").as_int(), -7);
  EXPECT_EQ(at_key(v, "sb").kind, Kind::Bool);
  EXPECT_TRUE(at_key(v, "sb").boolean);
}

std::string parse_error(const std::string& bytes) {
  try {
    parse_pickle(bytes, "p.pkl");
  } catch (const fovea::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Pickle, GenericValuesEveryProtocol) {
  const char* fixtures[] = {fovea_test::kGenericProtocol0, fovea_test::kGenericProtocol1,
                            fovea_test::kGenericProtocol2, fovea_test::kGenericProtocol3,
                            fovea_test::kGenericProtocol4, fovea_test::kGenericProtocol5};
  for (int p = 0; p < 6; ++p) {
    SCOPED_TRACE("protocol " + std::to_string(p));
    check_generic(parse_pickle(from_hex(fixtures[p]), "generic.pkl"));
  }
}

TEST(Pickle, NumpyArraysAndScalars) {
  const char* fixtures[] = {fovea_test::kNumpyProtocol2, fovea_test::kNumpyProtocol4, fovea_test::kNumpyProtocol5};
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE("fixture " + std::to_string(i));
    check_numpy(parse_pickle(from_hex(fixtures[i]), "numpy.pkl"));
  }
}

TEST(Pickle, TextOpcodes) {
  // Protocol 0 by hand: INST, OBJ, DUP, POP, POP_MARK, PUT/GET, FLOAT, STRING, UNICODE, INT.
  const std::string p =
      "(dp0\n"
      "S'esc'\nS'a\\'b\\n\\x41\\101'\ns"
      "S'uni'\nVcaf\\u00e9 \\U0001F600\ns"
      "S'f'\nF-1.5e3\ns"
      "S'i'\nI-12\ns"
      "S'l'\nL123456789012345678901234567890L\ns"
      "S'inst'\n(I1\nI2\nimymod\nMyClass\ns"
      "S'obj'\n(cmymod\nOther\nI3\nos"
      "S'dup'\n(I9\n2ts"
      "S'pop'\nI1\n0I2\ns"
      "S'popmark'\n(I1\nI2\n1I3\ns"
      "S'get'\ng0\ns.";
  const PyRef v = parse_pickle(p, "text.pkl");
  EXPECT_EQ(at_key(v, "esc").as_string(), "a'b\nAA");
  EXPECT_EQ(at_key(v, "uni").as_string(), "caf\xc3\xa9 \xf0\x9f\x98\x80");
  EXPECT_EQ(at_key(v, "f").as_double(), -1500.0);
  EXPECT_EQ(at_key(v, "i").as_int(), -12);
  EXPECT_EQ(at_key(v, "l").class_name, "builtins.int");
  EXPECT_EQ(at_key(v, "l").args[0]->as_string(), "123456789012345678901234567890");
  const PyValue& inst = at_key(v, "inst");
  EXPECT_EQ(inst.class_name, "mymod.MyClass");
  ASSERT_EQ(inst.args.size(), 2u);
  EXPECT_EQ(inst.args[1]->as_int(), 2);
  const PyValue& obj = at_key(v, "obj");
  EXPECT_EQ(obj.class_name, "mymod.Other");
  ASSERT_EQ(obj.args.size(), 1u);
  EXPECT_EQ(obj.args[0]->as_int(), 3);
  const PyValue& dup = at_key(v, "dup");
  ASSERT_EQ(dup.items.size(), 2u);
  EXPECT_EQ(dup.items[0].get(), dup.items[1].get());
  EXPECT_EQ(at_key(v, "pop").as_int(), 2);
  EXPECT_EQ(at_key(v, "popmark").as_int(), 3);
  // g0 fetches the dict itself: a reference cycle, cut to None.
  EXPECT_TRUE(at_key(v, "get").is_none());
}

TEST(Pickle, StackGlobalNewobjExAndSets) {
  PickleWriter w;
  w.proto(4).empty_dict().mark();
  w.str("o").str("pkg.mod").str("Thing").op('\x93').mark().integer(1).tuple();
  w.empty_dict().mark().str("k").integer(2).setitems().op('\x92');  // NEWOBJ_EX(cls, (1,), {'k': 2})
  w.str("s").op('\x8f').mark().integer(4).integer(5).op('\x90');   // EMPTY_SET, ADDITEMS
  w.str("fs").mark().integer(6).op('\x91');                         // FROZENSET
  w.str("l1").op('\x8a').byte(2).byte(0x00).byte(0x80);            // LONG1 -32768
  w.str("l4").op('\x8b').u32(1).byte(0xff);                          // LONG4 -1
  w.str("f").op('G').raw("\x40\x09\x21\xfb\x54\x44\x2d\x18", 8);   // BINFLOAT pi
  w.str("bb").op('B').u32(3).raw("xyz").op('\x98');                 // BINBYTES, READONLY_BUFFER
  w.str("ba").op('\x96').raw(std::string("\x02\0\0\0\0\0\0\0", 8)).raw("hi");  // BYTEARRAY8
  w.setitems().stop();
  const PyRef v = parse_pickle(w.bytes(), "p4.pkl");
  const PyValue& o = at_key(v, "o");
  EXPECT_EQ(o.class_name, "pkg.mod.Thing");
  ASSERT_EQ(o.args.size(), 2u);
  EXPECT_EQ(o.args[0]->as_int(), 1);
  EXPECT_EQ(o.args[1]->get("k")->as_int(), 2);
  ASSERT_EQ(at_key(v, "s").items.size(), 2u);
  EXPECT_EQ(at_key(v, "s").items[1]->as_int(), 5);
  EXPECT_EQ(at_key(v, "fs").items[0]->as_int(), 6);
  EXPECT_EQ(at_key(v, "l1").as_int(), -32768);
  EXPECT_EQ(at_key(v, "l4").as_int(), -1);
  EXPECT_DOUBLE_EQ(at_key(v, "f").as_double(), 3.141592653589793);
  EXPECT_EQ(at_key(v, "bb").text, "xyz");
  EXPECT_EQ(at_key(v, "ba").kind, Kind::Bytes);
  EXPECT_EQ(at_key(v, "ba").text, "hi");
}

TEST(Pickle, RepeatedDictKeyKeepsLastValue) {
  PickleWriter w;
  w.proto(2).empty_dict().mark().str("a").integer(1).str("b").integer(2).str("a").integer(3).setitems().stop();
  const PyRef v = parse_pickle(w.bytes(), "dup.pkl");
  ASSERT_EQ(v->entries.size(), 2u);
  EXPECT_EQ(v->get("a")->as_int(), 3);
}

TEST(Pickle, TorchTensorsFromStorages) {
  // One storage of 6 floats shared by three views.
  PickleWriter w;
  w.proto(2).empty_dict().mark();
  w.str("full").tensor("FloatStorage", "0", 6, 0, {2, 3}, {3, 1});
  w.str("column").tensor("FloatStorage", "0", 6, 1, {2}, {3});
  w.str("transposed").tensor("FloatStorage", "0", 6, 0, {3, 2}, {1, 3});
  w.str("param").global("torch._utils", "_rebuild_parameter").mark();
  w.tensor("LongStorage", "1", 2, 0, {2}, {1}).boolean(true).global("collections", "OrderedDict").empty_tuple().reduce();
  w.tuple().reduce();
  w.setitems().stop();
  int calls = 0;
  const StorageLoader loader = [&](const std::string& key, at::ScalarType dtype, int64_t numel) {
    ++calls;
    if (key == "0") {
      EXPECT_EQ(dtype, at::kFloat);
      EXPECT_EQ(numel, 6);
      return at::arange(6, at::kFloat);
    }
    EXPECT_EQ(dtype, at::kLong);
    return at::tensor({10, 20}, at::kLong);
  };
  const PyRef v = parse_pickle(w.bytes(), "t.pkl", loader);
  EXPECT_EQ(calls, 2);  // the shared storage is loaded once
  EXPECT_TRUE(at::equal(at_key(v, "full").tensor, at::arange(6, at::kFloat).reshape({2, 3})));
  EXPECT_TRUE(at::equal(at_key(v, "column").tensor, at::tensor({1.0f, 4.0f})));
  const at::Tensor t = at_key(v, "transposed").tensor;
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_TRUE(at::equal(t, at::arange(6, at::kFloat).reshape({2, 3}).t()));
  EXPECT_TRUE(at::equal(at_key(v, "param").tensor, at::tensor({10, 20}, at::kLong)));
}

TEST(Pickle, TensorViewsOutsideTheStorageAreRefused) {
  const StorageLoader loader = [](const std::string&, at::ScalarType dtype, int64_t numel) {
    return at::zeros({numel}, dtype);
  };
  auto one = [&](int64_t offset, std::initializer_list<int64_t> size, std::initializer_list<int64_t> stride) {
    PickleWriter w;
    w.proto(2).tensor("FloatStorage", "0", 6, offset, size, stride).stop();
    return w.bytes();
  };
  expect_error([&] { parse_pickle(one(4, {2, 3}, {3, 1}), "oob.pkl", loader); }, {"oob.pkl", "reaches element"});
  expect_error([&] { parse_pickle(one(0, {7}, {1}), "oob.pkl", loader); }, {"oob.pkl", "storage with 6"});
  expect_error([&] { parse_pickle(one(0, {60000, 60000, 60000}, {0, 0, 0}), "big.pkl", loader); }, {"big.pkl", "expands"});
  expect_error([&] { parse_pickle(one(0, {2}, {1}), "noloader.pkl"); }, {"noloader.pkl", "no storage loader"});
  // A loader that returns too little.
  const StorageLoader short_loader = [](const std::string&, at::ScalarType dtype, int64_t) {
    return at::zeros({2}, dtype);
  };
  expect_error([&] { parse_pickle(one(0, {2}, {1}), "short.pkl", short_loader); }, {"short.pkl", "does not hold 6"});
}

TEST(Pickle, CyclesAreCutAndDeepNestingRefused) {
  // l = []; l.append(l)
  const PyRef v = parse_pickle(std::string("\x80\x02]q\x00h\x00" "a.", 9), "cycle.pkl");
  ASSERT_EQ(v->kind, Kind::List);
  ASSERT_EQ(v->items.size(), 1u);
  EXPECT_TRUE(v->items[0]->is_none());

  // 200000 nested lists: refused without exhausting the stack.
  std::string deep = "\x80\x02";
  const int depth = 200000;
  deep += std::string(depth, ']');
  deep += std::string(depth - 1, 'a');
  deep += '.';
  expect_error([&] { parse_pickle(deep, "deep.pkl"); }, {"deep.pkl", "nested more than 512"});

  // ... and so are failures in the middle of such a structure.
  std::string deep_bad = "\x80\x02" + std::string(depth, ']') + std::string(depth - 1, 'a') + "a.";
  expect_error([&] { parse_pickle(deep_bad, "deep.pkl"); }, {"deep.pkl", "stack underflow"});
}

TEST(Pickle, MalformedPicklesGiveErrors) {
  EXPECT_NE(parse_error("\x80\x02" "a.").find("stack underflow"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02h\x05.").find("memo entry 5 does not exist"), std::string::npos);
  EXPECT_NE(parse_error(std::string("\x80\x02X\xff\xff\xff\x7f", 7)).find("truncated"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02\xff.").find("unknown opcode"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02K\x01").find("no STOP"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x09.").find("unsupported pickle protocol 9"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02u.").find("no MARK"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02(K\x01u.").find("stack underflow"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02}(K\x01u.").find("odd number"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02K\x01K\x02R.").find("expected a tuple"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02K\x01)R.").find("cannot call a int"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x02\x82\x01.").find("extension"), std::string::npos);
  EXPECT_NE(parse_error("\x80\x05\x97.").find("out-of-band"), std::string::npos);
  EXPECT_NE(parse_error("Ifoo\n.").find("invalid integer"), std::string::npos);
  EXPECT_NE(parse_error("S'abc\n.").find("not quoted"), std::string::npos);
  EXPECT_NE(parse_error("Pabc\n.").find("persistent id"), std::string::npos);
  EXPECT_NE(parse_error("").find("p.pkl: bad pickle at byte 0"), std::string::npos);
}

TEST(Pickle, ReprAndAccessors) {
  PickleWriter w;
  w.proto(2).empty_dict().mark().str("a").mark().integer(1).str("x").none().tuple();
  w.str("o").global("m", "C").empty_tuple().reduce().setitems().stop();
  const PyRef v = parse_pickle(w.bytes(), "r.pkl");
  EXPECT_EQ(v->repr(), "{'a': (1, 'x', None), 'o': m.C()}");
  EXPECT_EQ(v->get("missing"), nullptr);
  expect_error([&] { v->get("a")->as_int(); }, {"expected an int", "(1, 'x', None)"});
  expect_error([&] { v->get("o")->as_string(); }, {"expected a str", "m.C()"});
  EXPECT_EQ(v->get("a")->items[0]->as_double(), 1.0);
}

TEST(Pickle, OmegaConfToPlain) {
  // DictConfig(content={'a': AnyNode(1), 'l': ListConfig([AnyNode('x')]), 'n': AnyNode(None)})
  auto node = [](PyRef val) {
    auto n = std::make_shared<PyValue>();
    n->kind = Kind::Object;
    n->class_name = "omegaconf.nodes.AnyNode";
    n->state = std::make_shared<PyValue>();
    n->state->kind = Kind::Dict;
    auto key = std::make_shared<PyValue>();
    key->kind = Kind::String;
    key->text = "_val";
    n->state->entries.emplace_back(key, val);
    return n;
  };
  auto value = [](Kind k, int64_t i, const std::string& s) {
    auto v = std::make_shared<PyValue>();
    v->kind = k;
    v->integer = i;
    v->text = s;
    return v;
  };
  auto config = [&](const std::string& cls, PyRef content) {
    auto c = std::make_shared<PyValue>();
    c->kind = Kind::Object;
    c->class_name = cls;
    c->state = std::make_shared<PyValue>();
    c->state->kind = Kind::Dict;
    c->state->entries.emplace_back(value(Kind::String, 0, "_content"), content);
    return c;
  };
  auto list = std::make_shared<PyValue>();
  list->kind = Kind::List;
  list->items.push_back(node(value(Kind::String, 0, "x")));
  auto content = std::make_shared<PyValue>();
  content->kind = Kind::Dict;
  content->entries.emplace_back(value(Kind::String, 0, "a"), node(value(Kind::Int, 1, "")));
  content->entries.emplace_back(value(Kind::String, 0, "l"), config("omegaconf.listconfig.ListConfig", list));
  content->entries.emplace_back(value(Kind::String, 0, "n"), node(value(Kind::None, 0, "")));
  const PyRef plain = omegaconf_to_plain(config("omegaconf.dictconfig.DictConfig", content));
  EXPECT_EQ(plain->repr(), "{'a': 1, 'l': ['x'], 'n': None}");
}

TEST(Pickle, CorruptedCheckpointPickleNeverCrashes) {
  if (!fovea_test::have_golden()) GTEST_SKIP() << "no golden dir";
  fovea::io::detail::ZipReader zip(fovea_test::golden("openretina_core_readout/checkpoint.ckpt"));
  const int64_t index = zip.find("checkpoint/data.pkl");
  ASSERT_GE(index, 0);
  const std::string good = zip.read(static_cast<uint64_t>(index));
  const StorageLoader loader = [](const std::string&, at::ScalarType dtype, int64_t numel) {
    if (numel > 100000) throw fovea::Error("storage too large for the test");
    return at::zeros({numel}, dtype);
  };
  ASSERT_TRUE(parse_pickle(good, "ckpt", loader)->is_dict());
  std::mt19937 rng(42);
  int errors = 0;
  for (size_t len = 0; len < good.size(); len += 7) {
    try {
      parse_pickle(good.substr(0, len), "cut", loader);
    } catch (const fovea::Error&) {
      ++errors;
    }
  }
  EXPECT_EQ(errors, static_cast<int>((good.size() + 6) / 7));  // no prefix is a complete pickle
  for (int trial = 0; trial < 3000; ++trial) {
    std::string bad = good;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) bad[rng() % bad.size()] = static_cast<char>(rng() % 256);
    try {
      parse_pickle(bad, "flip", loader);
    } catch (const fovea::Error&) {
    }
  }
}
