"""The seeds' vanilla gradients, reimplemented faithfully (seed 001's `get_gradients`).

One example at a time, eager: one-hot ids times the embedding matrix inside a
GradientTape, the predicted class's logit, the gradient w.r.t. the one-hot input,
L2 norm over the vocabulary axis, normalized by its max. This is the baseline our
engine is measured against; it is not used by the library.
"""

from __future__ import annotations

import tensorflow as tf


def seed_gradients(text, model, tokenizer):
    embedding_matrix = model.get_input_embeddings().weight  # seed: model.bert.embeddings.weights[0]
    encoded_tokens = tokenizer(text, return_tensors="tf")
    token_ids = list(encoded_tokens["input_ids"].numpy()[0])
    vocab_size = embedding_matrix.get_shape()[0]
    token_ids_tensor = tf.constant([token_ids], dtype="int32")
    token_ids_tensor_one_hot = tf.one_hot(token_ids_tensor, vocab_size)
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(token_ids_tensor_one_hot)
        inputs_embeds = tf.matmul(token_ids_tensor_one_hot, embedding_matrix)
        pred_scores = model({"inputs_embeds": inputs_embeds, "attention_mask": encoded_tokens["attention_mask"]}).logits
        max_class = tf.argmax(pred_scores, axis=1).numpy()[0]
        score_mask = tf.one_hot([max_class], pred_scores.shape[1])
        predict_correct_class = tf.reduce_sum(pred_scores * score_mask)
    gradient_non_normalized = tf.norm(tape.gradient(predict_correct_class, token_ids_tensor_one_hot), axis=2)
    gradient_tensor = gradient_non_normalized / tf.reduce_max(gradient_non_normalized)
    gradients = gradient_tensor[0].numpy().tolist()
    token_words = tokenizer.convert_ids_to_tokens(token_ids)
    return gradients, token_words, int(max_class)
