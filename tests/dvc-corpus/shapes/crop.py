print('crop')
