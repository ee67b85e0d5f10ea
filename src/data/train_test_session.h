#pragma once
// A recording session stored as a /train and a /test group, each with a
// stimulus movie and responses (the Goldin 2022 and Maheswaranathan 2023
// layouts): the checks and the normalisation openretina applies to both
// splits together, and the session's place in a RetinaDataset.
#include <ATen/ATen.h>

#include <string>

#include "fovea/data/retina_dataset.h"
#include "fovea/error.h"

namespace fovea::data {

// The training and test movies (channels, frames, height, width): fails
// (naming `file`) unless their `frames` ("images", "frames") have the same
// height and width; then, if `normalize`, z-scores both with the training
// movie's torch float32 mean and std (ddof 1), as openretina. A constant
// training movie fails.
inline void normalize_by_training_movie(at::Tensor& train, at::Tensor& test, bool normalize, const std::string& file,
                                        const std::string& frames) {
  check(test.size(2) == train.size(2) && test.size(3) == train.size(3), file,
        "/test/stimulus " + frames + " are " + std::to_string(test.size(2)) + "x" + std::to_string(test.size(3)) +
            ", /train/stimulus " + frames + " " + std::to_string(train.size(2)) + "x" + std::to_string(train.size(3)));
  if (!normalize) return;
  const at::Tensor mean = train.mean(), sd = train.std();
  check(sd.item<float>() > 0.0f, file, "/train/stimulus is constant: it cannot be normalised");
  train = (train - mean) / sd;
  test = (test - mean) / sd;
}

// The (neurons, frames) test and training responses of /<split>/response/<response_type> hold the same neurons.
inline void check_same_neurons(const at::Tensor& test, const at::Tensor& train, const std::string& file,
                               const std::string& response_type) {
  check(test.size(0) == train.size(0), file,
        "/test/response/" + response_type + " has " + std::to_string(test.size(0)) + " neurons, /train/response/" +
            response_type + " has " + std::to_string(train.size(0)));
}

// Adds `session` with its one test stimulus ("test"); `trials` (repeats,
// neurons, frames) may be undefined.
inline void add_session(RetinaDataset& d, const std::string& session, const at::Tensor& train_movie,
                        const at::Tensor& test_movie, const at::Tensor& train, const at::Tensor& test,
                        const at::Tensor& trials) {
  MovieSplit& movies = d.movies[session];
  movies.train = train_movie;
  movies.test["test"] = test_movie;
  SessionResponses& responses = d.responses[session];
  responses.train = train;
  responses.test["test"] = test;
  if (trials.defined()) responses.test_by_trial["test"] = trials;
}

}  // namespace fovea::data
